"""make bench, backups: pgBackRest against pg_dump/pg_restore on the rehearsal's tables, and
the recovery point of a database volume destroyed under steady writes.

Runs on the host (make e2e's venv) as its own compose project, `fabench-recovery`: the
database image (db/Dockerfile) and its backup service, the app's tables migrated and filled
with a million rows each by the rehearsal's own generator (web/ops/rehearse/fill.py). Then, once
each: a full pgBackRest backup (time, repository size) beside pg_dump -Fc (time, file size),
and a restore of each: make restore-check (restore, WAL replay, start) beside pg_restore
into an empty database. Last, the destroyed volume: writes every 50 ms, db killed and its
volume removed, make restore, and the writes lost counted. BENCH_SHORT=1: 10,000 rows and
no destroyed volume. `main()` prints the rows; `measure()` returns them, for a caller.
"""

import json
import os
import subprocess
import sys
import threading
import time

from bench.report import Row, check, print_rows
from harness.compose import ROOT, Stack

SHORT = os.environ.get("BENCH_SHORT") == "1"
ROWS = 10_000 if SHORT else 1_000_000
PROJECT = "fabench-recovery"
STACK = Stack(ROOT / "e2e" / "compose.unpublished.yml", project=PROJECT)
ARCHIVE_TIMEOUT = 60  # db/Dockerfile's archive_timeout


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def compose(*args: str, timeout: float = 900) -> str:
    return STACK.compose(*args, timeout=timeout).stdout


def timed(*args: str) -> tuple[float, str]:
    started = time.monotonic()
    out = compose(*args)
    return time.monotonic() - started, out


def in_db(script: str) -> str:
    return compose("exec", "-T", "db", "sh", "-c", script)


def sql(statement: str) -> str:
    return in_db(f'psql -X -tAq -U app_owner -d "$POSTGRES_DB" -c "{statement}"').strip()


def backups() -> list[dict]:
    return json.loads(compose("exec", "-T", "db", "pgbackrest", "info", "--output=json"))[0][
        "backup"
    ]


def wait_for(condition, what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: {what}: not within {timeout:g}s")
        time.sleep(1)


def filled_stack() -> None:
    compose("down", "-v", "--remove-orphans")
    compose("up", "-d", "--wait", "db", "backup")
    wait_for(backups, "the backup service's first full backup", 120)
    compose("stop", "backup")  # its schedule would not run during the bench anyway
    compose("run", "--rm", "--no-deps", "tools", "alembic", "upgrade", "head")
    started = time.monotonic()
    compose(
        "run",
        "--rm",
        "--no-deps",
        "tools",
        "python",
        "-m",
        "web.ops.rehearse.fill",
        f"--rows={ROWS}",
    )
    log(f"filled the app's tables with {ROWS:,} rows each in {time.monotonic() - started:.0f} s")


def backup_and_restore() -> list[Row]:
    backup, _ = timed("exec", "-T", "db", "pgbackrest", "--type=full", "backup")
    stored = backups()[-1]["info"]["repository"]["delta"]
    dump, _ = timed(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'pg_dump -Fc -U "$POSTGRES_USER" "$POSTGRES_DB" >/tmp/b.dump',
    )
    dumped = int(in_db("stat -c %s /tmp/b.dump"))
    restore, out = timed("run", "--rm", "restore-check")
    restore_line = next(line for line in out.splitlines() if "restored in" in line)
    restored = float(restore_line.split("restored in ")[1].split("s;")[0])
    pg_restore, _ = timed(
        "exec",
        "-T",
        "db",
        "sh",
        "-c",
        'createdb -U "$POSTGRES_USER" bench_restore && '
        'pg_restore -U "$POSTGRES_USER" -d bench_restore /tmp/b.dump && '
        'dropdb -U "$POSTGRES_USER" bench_restore && rm /tmp/b.dump',
    )
    rows = f"{ROWS:,} rows a table"
    return [
        (
            f"pgBackRest full backup, {rows}: time, repository size",
            f"{backup:.1f} s, {stored / 1e6:.1f} MB",
            "report",
            "",
        ),
        (
            "  pg_dump -Fc of the same: time, file size",
            f"{dump:.1f} s, {dumped / 1e6:.1f} MB",
            "",
            "",
        ),
        (
            "pgBackRest restore to a running server (make restore-check)",
            f"{restored:.1f} s (the check's whole run: {restore:.1f} s)",
            "<= pg_restore",
            check(restored <= pg_restore),
        ),
        ("  pg_restore of the dump into an empty database", f"{pg_restore:.1f} s", "", ""),
    ]


def recovery_point() -> list[Row]:
    """Writes every 50 ms (one psql each, so that each acknowledgement is seen as it comes),
    db killed and its volume removed, make restore: the writes lost, and over how long."""
    sql("CREATE TABLE bench_writes (n int PRIMARY KEY)")
    acknowledged: dict[int, float] = {}
    stop = threading.Event()

    def write() -> None:
        for n in range(100_000):  # bounded; stopped long before
            if stop.is_set():
                return
            try:
                sql(f"INSERT INTO bench_writes VALUES ({n})")  # noqa: S608 (a counter)
                acknowledged[n] = time.time()
            except AssertionError:
                return  # the database is gone
            time.sleep(0.05)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    time.sleep(ARCHIVE_TIMEOUT + 15)
    compose("kill", "db")
    destroyed = time.time()
    stop.set()
    writer.join(timeout=30)
    compose("rm", "--stop", "--force", "db", "backup")
    subprocess.run(["docker", "volume", "rm", f"{PROJECT}_db-data"], check=True, timeout=60)
    started = time.monotonic()
    subprocess.run(
        ["sh", "deploy/recover.sh", "", ""],
        cwd=ROOT,
        env=STACK.env,
        check=True,
        timeout=900,
        capture_output=True,
    )
    took = time.monotonic() - started
    present = {int(n) for n in sql("SELECT n FROM bench_writes").split()}
    lost = [at for n, at in acknowledged.items() if n not in present]
    window = destroyed - min(lost) if lost else 0.0
    return [
        (
            "destroyed volume under writes: writes lost (seconds of them)",
            f"{len(lost)} of {len(acknowledged)} ({window:.0f} s)",
            f"<= {ARCHIVE_TIMEOUT} s",
            check(window <= ARCHIVE_TIMEOUT),
        ),
        (
            "  make restore to the latest archived WAL, from a lost volume",
            f"{took:.1f} s",
            "report",
            "",
        ),
    ]


def measure() -> list[Row]:
    os.chdir(ROOT)
    try:
        filled_stack()
        log("backup and restore, pgBackRest and pg_dump")
        rows = backup_and_restore()
        if not SHORT:
            log(f"a destroyed volume under writes (about {ARCHIVE_TIMEOUT + 15} s of them)")
            rows += recovery_point()
        return rows
    finally:
        compose("--profile", "tools", "down", "-v", "--remove-orphans")


def main() -> None:
    print_rows(measure())


if __name__ == "__main__":
    main()
