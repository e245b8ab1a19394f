"""make backfill (web/ops/backfill.py), on a table of the test's own: killed mid-run
and run again, it does every row exactly once, and traffic on the table never waits long."""

import os
import random
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.database import admin_connection, as_owner, database_env, query
from harness.revisions import write_revision
from harness.waiting import wait_until
from web.base.paths import ROOT

pytestmark = pytest.mark.usefixtures("test_database")

ROWS = 60_000
BATCH = 500
# Each row's counter goes up by one each time a batch does it: exactly once means 1 everywhere.
BACKFILL = f"""
TABLE = "backfill_probe"
KEY = "id"
SQL = "UPDATE backfill_probe SET done = done + 1 WHERE id BETWEEN :first AND :last"
BATCH_SIZE = {BATCH}
"""
# Short pauses, so that the test is quick; the lock timeout is the default's.
FAST = {"BACKFILL_PAUSE_MS": "10"}


@pytest.fixture
def probe(app_copy: Path, fresh_database: str) -> Path:
    """The copy of the app with the backfill `probe` and its table of ROWS rows."""
    (app_copy / "migrations" / "backfills" / "probe.py").write_text(BACKFILL)
    as_owner(
        fresh_database,
        "CREATE TABLE backfill_probe (id bigserial PRIMARY KEY, done int NOT NULL DEFAULT 0,"
        " note text)",
    )
    query(
        fresh_database,
        f"INSERT INTO backfill_probe (note) SELECT '' FROM generate_series(1, {ROWS})",
    )
    return app_copy


def backfill(app: Path, database: str, *args: str) -> subprocess.CompletedProcess:
    return run_in(app, sys.executable, "-m", "web.ops.backfill", *args, database=database, **FAST)


def start(app: Path, database: str) -> subprocess.Popen:
    """The probe backfill, running in the background (its output: stdout, then stderr)."""
    return subprocess.Popen(
        [sys.executable, "-m", "web.ops.backfill", "probe"],
        cwd=app,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={
            **os.environ,
            **database_env(database),
            "PYTHONPATH": str(app),
            **FAST,
        },
    )


def checkpoint(database: str) -> tuple:
    """(rows done, finished?) of the backfill `probe`; (0, False) before its first run."""
    if query(database, "SELECT to_regclass('backfill_checkpoints')") == [(None,)]:
        return (0, False)
    rows = query(database, "SELECT rows_done, finished_at IS NOT NULL FROM backfill_checkpoints")
    return rows[0] if rows else (0, False)


class Traffic(threading.Thread):
    """Requests' statements on the table, one after another, each timed: an UPDATE and a
    SELECT of a row, half the time any row, half the time a neighbour of `spared` (in the
    batch that meets the row the test locks on purpose; `spared` itself never)."""

    def __init__(self, database: str, spared: int) -> None:
        super().__init__(daemon=True)
        self.database, self.spared = database, spared
        self.neighbours = range(spared - BATCH + 1, spared)
        self.stop = threading.Event()
        self.longest = 0.0
        self.statements = 0

    def run(self) -> None:
        with closing(admin_connection(self.database)) as connection, connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '10s'")  # the test cannot hang on it
            while not self.stop.is_set():
                # S311: rows to touch, not secrets.
                row = random.choice((random.randint(1, ROWS), random.choice(self.neighbours)))  # noqa: S311
                if row == self.spared:
                    continue
                for statement in (
                    "UPDATE backfill_probe SET note = 'traffic' WHERE id = %s",
                    "SELECT done FROM backfill_probe WHERE id = %s",
                ):
                    started = time.monotonic()
                    cursor.execute(statement, (row,))
                    self.longest = max(self.longest, time.monotonic() - started)
                    self.statements += 1
                time.sleep(0.002)


def test_a_killed_backfill_resumes_and_does_every_row_once(
    probe: Path, fresh_database: str
) -> None:
    locked_row = ROWS - 5 * BATCH  # held by a slow transaction during the second run
    traffic = Traffic(fresh_database, spared=locked_row)
    traffic.start()

    # First run: killed (SIGKILL: no clean-up of any kind) somewhere in the middle.
    first = start(probe, fresh_database)
    try:
        wait_until(
            lambda: checkpoint(fresh_database)[0] >= ROWS // 4,
            "a quarter done",
            timeout=60,
            interval=0.02,
        )
    finally:
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    # Its connection gone, its session (and its advisory lock) ends.
    locks = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
    wait_until(lambda: query(fresh_database, locks) == [(0,)], "the killed run's session ended")
    killed_at, finished = checkpoint(fresh_database)
    assert not finished and ROWS // 4 <= killed_at < ROWS // 2, killed_at

    # Second run, while a slow transaction holds one row ahead: the batch that meets it
    # gives up its rows after the lock timeout and tries again, instead of holding them.
    holder = admin_connection(fresh_database)
    holder.autocommit = False
    with holder.cursor() as cursor:
        cursor.execute("SELECT 1 FROM backfill_probe WHERE id = %s FOR UPDATE", (locked_row,))
    second = start(probe, fresh_database)
    try:
        wait_until(
            lambda: checkpoint(fresh_database)[0] >= locked_row - 2 * BATCH,
            "near the locked row",
            timeout=60,
        )
        time.sleep(1.5)  # the backfill retries meanwhile
    finally:
        holder.rollback()
        holder.close()
    out, err = second.communicate(timeout=60)
    traffic.stop.set()
    traffic.join(timeout=15)

    assert second.returncode == 0, err
    assert f"resuming after id {killed_at}" in err
    assert out.startswith(f"backfill probe: done, {ROWS:,} rows")
    assert query(fresh_database, "SELECT done, count(*) FROM backfill_probe GROUP BY done") == [
        (1, ROWS)
    ]
    assert checkpoint(fresh_database) == (ROWS, True)
    assert traffic.statements > 100
    assert traffic.longest < 1.0, f"a statement waited {traffic.longest:.2f}s"
    assert "locked by another transaction; trying again" in err

    again = backfill(probe, fresh_database, "probe")
    assert again.returncode == 0, again.stderr
    assert "backfill probe: already done (60,000 rows" in again.stdout
    assert query(fresh_database, "SELECT count(*) FROM backfill_probe WHERE done <> 1") == [(0,)]


def test_an_unknown_backfill_names_the_known_ones(probe: Path, fresh_database: str) -> None:
    result = backfill(probe, fresh_database, "nope")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no backfill named 'nope'; known: probe"


def test_a_malformed_backfill_is_refused_before_any_row(probe: Path, fresh_database: str) -> None:
    (probe / "migrations" / "backfills" / "probe.py").write_text(BACKFILL.replace(":last", "99"))
    result = backfill(probe, fresh_database, "probe")
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: migrations/backfills/probe.py: SQL must use :last (the batch's keys)"
    )
    assert query(fresh_database, "SELECT count(*) FROM backfill_probe WHERE done <> 0") == [(0,)]


def test_a_done_backfill_runs_again_only_when_asked(probe: Path, fresh_database: str) -> None:
    assert backfill(probe, fresh_database, "probe").returncode == 0
    rerun = backfill(probe, fresh_database, "probe", "--again")
    assert rerun.returncode == 0, rerun.stderr
    assert query(fresh_database, "SELECT DISTINCT done FROM backfill_probe") == [(2,)]


def test_autogenerate_leaves_the_checkpoints_alone(probe: Path, fresh_database: str) -> None:
    """No model declares backfill_checkpoints; migrations/env.py keeps autogenerate off it."""
    assert run_in(probe, "alembic", "upgrade", "head", database=fresh_database).returncode == 0
    assert backfill(probe, fresh_database, "probe").returncode == 0
    query(fresh_database, "DROP TABLE backfill_probe")  # the test's table, not a model's either
    check = run_in(probe, "alembic", "check", database=fresh_database)
    assert check.returncode == 0, check.stdout + check.stderr


def recipe_files() -> dict[str, str]:
    """The code blocks of docs/schema-changes.md's "Backfills" that name a file in their
    first line."""
    page = (ROOT / "docs" / "schema-changes.md").read_text()
    section = page.split("## Backfills: make backfill", 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        lines = textwrap.dedent(block).splitlines()
        if lines[0].startswith("# migrations/"):
            files[lines[0][2:]] = "\n".join(lines[1:]) + "\n"
    return files


def test_the_not_null_recipe_works_as_written(app_copy: Path, fresh_database: str) -> None:
    """Expand, backfill, contract, as the docs say, on a `notes` table of the test's own
    (in a database of its own, with none of the code's revisions)."""
    files = recipe_files()
    backfill_file = files.pop("migrations/backfills/notes_text_key.py")
    (check, check_body), (not_null, not_null_body) = sorted(files.items())
    assert "check_notes_text_key" in check and "text_key_not_null" in not_null
    versions = app_copy / "migrations" / "versions"
    for revision in versions.glob("*.py"):
        revision.unlink()
    # Expanded: the column is there, nullable; the new code has filled it on some rows.
    as_owner(
        fresh_database, "CREATE TABLE notes (id serial PRIMARY KEY, text varchar(500) NOT NULL)"
    )
    query(
        fresh_database,
        "INSERT INTO notes (text) SELECT 'Note ' || i FROM generate_series(1, 3000) AS i",
    )
    query(fresh_database, "ALTER TABLE notes ADD COLUMN text_key varchar(500)")
    query(fresh_database, "INSERT INTO notes (text, text_key) VALUES ('New', 'new')")

    (app_copy / "migrations" / "backfills" / "notes_text_key.py").write_text(backfill_file)
    result = backfill(app_copy, fresh_database, "notes_text_key")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("backfill notes_text_key: done, 3,001 rows")

    def body(source: str) -> str:
        return source.split("def upgrade() -> None:\n", 1)[1]

    write_revision(versions, "t_check", None, body(check_body))
    write_revision(versions, "t_not_null", "t_check", body(not_null_body))
    upgraded = run_in(app_copy, "alembic", "upgrade", "head", database=fresh_database)
    assert upgraded.returncode == 0, upgraded.stderr
    assert query(
        fresh_database,
        "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attname = 'text_key'",
    ) == [(True,)]
    assert query(fresh_database, "SELECT count(*) FROM notes WHERE text_key = lower(text)") == [
        (3001,)
    ]
