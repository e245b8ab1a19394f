"""Continuous backups (pgBackRest, db/) on the real stack: a dropped table recovered to the
moment before (make restore at=...), make restore-check, and a destroyed database volume
recovered under a steady write load from a make backup (make restore: the writes lost are
counted)."""

import json
import subprocess
import threading
import time

import requests

from harness.compose import (
    BASE,
    PROJECT,
    Stack,
    create_item,
    item_names,
    make,
    readable_folder,
)
from harness.waiting import wait_until

# Shorter than db/Dockerfile's 60 s, to prove the bound in less time (make bench measures
# the recovery point at the image's own setting).
ARCHIVE_TIMEOUT = 15


def backups(stack: Stack) -> list[dict]:
    out = stack.compose("exec", "-T", "db", "pgbackrest", "info", "--output=json").stdout
    return json.loads(out)[0]["backup"]


def fresh_with_a_backup(stack: Stack) -> None:
    """A new stack, and the full backup its backup service takes at the first start."""
    stack.fresh()
    wait_until(lambda: backups(stack), "the first full backup", 120, 1)
    assert backups(stack)[0]["type"] == "full"


def test_a_dropped_table_is_recovered_to_the_moment_before(stack: Stack) -> None:
    fresh_with_a_backup(stack)
    written = [create_item(f"t1 {i}")["name"] for i in range(20)]
    time.sleep(1)
    between = stack.psql("SELECT now()")
    refused = make("restore", f"at={between}")
    assert refused.returncode != 0
    assert "error: the database holds data; to replace it" in refused.stderr
    time.sleep(1)
    stack.psql("DROP TABLE probe_items")

    result = make("restore", f"at={between}", "force=1")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"recovered to {between}" in result.stdout
    stack.wait_ready()
    assert item_names() == written
    create_item("after the recovery")

    check = make("restore-check")
    assert check.returncode == 0, check.stdout + check.stderr
    # The latest backup predates the recovery: its WAL is replayed along the new timeline,
    # which keeps the table (the old one's end has it dropped). The write after the recovery
    # is in WAL not archived yet (archive_timeout), so not in this restore.
    assert "alembic_version probe0001" in check.stdout
    assert f"public.probe_items {len(written)}," in check.stdout
    assert "all read" in check.stdout and "recovery point" in check.stdout
    print("\n" + check.stdout.strip())


def test_bad_times_are_one_line_errors_and_change_nothing(stack: Stack) -> None:
    stack.up()
    count = stack.psql("SELECT count(*) FROM probe_items")
    for at, message in (
        ("yesterday-ish", "is not a time"),
        ("2999-01-01 00:00:00+00", "is in the future"),
    ):
        result = make("restore", f"at={at}", "force=1")
        assert result.returncode != 0
        assert message in result.stderr
    stack.wait_ready()
    assert stack.container("db")["State"]["Running"]
    assert stack.psql("SELECT count(*) FROM probe_items") == count


class Writer(threading.Thread):
    """Creates items one after another; notes when each was acknowledged (201)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.acknowledged: dict[str, float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        session = requests.Session()
        for i in range(100_000):  # bounded; stopped long before
            if self.stop.is_set():
                return
            name = f"steady {i}"
            try:
                response = session.post(f"{BASE}/api/probe/items", json={"name": name}, timeout=5)
            except requests.RequestException:
                continue
            if response.status_code == 201:
                self.acknowledged[name] = time.time()
            time.sleep(0.05)


def with_archive_timeout(stack: Stack, seconds: int) -> Stack:
    """`stack` with db's command (the image's) given another archive_timeout."""
    command = [
        f"archive_timeout={seconds}" if arg.startswith("archive_timeout=") else arg
        for arg in stack.container("db")["Config"]["Cmd"]
    ]
    overlay = readable_folder("e2e-archive-") / "overlay.yml"
    overlay.write_text(json.dumps({"services": {"db": {"command": command}}}))
    return stack.with_overlay(overlay)


def test_a_destroyed_volume_under_writes_loses_at_most_the_archive_timeout(
    running: Stack,
) -> None:
    with_archive_timeout(running, ARCHIVE_TIMEOUT).up()
    taken = make("backup")
    assert taken.returncode == 0, taken.stdout + taken.stderr
    assert "full backup" in taken.stdout
    stack = running
    writer = Writer()
    writer.start()
    try:
        time.sleep(ARCHIVE_TIMEOUT + 10)  # past one forced WAL switch at least
        # Killed, not stopped: a clean stop would archive the last WAL first.
        stack.compose("kill", "db")
        stack.compose("rm", "--stop", "--force", "db", "backup")
        destroyed = time.time()
        subprocess.run(["docker", "volume", "rm", f"{PROJECT}_db-data"], check=True, timeout=60)
    finally:
        writer.stop.set()
        writer.join(timeout=30)

    result = make("restore")
    assert result.returncode == 0, result.stdout + result.stderr
    stack.wait_ready()
    present = set(item_names())
    lost = {name: at for name, at in writer.acknowledged.items() if name not in present}
    window = destroyed - min(lost.values()) if lost else 0.0
    print(
        f"\ndestroyed volume: {len(writer.acknowledged)} writes acknowledged, {len(lost)} lost, "
        f"the last {window:.0f}s before the volume went"
    )
    assert len(writer.acknowledged) > 100
    assert window <= ARCHIVE_TIMEOUT + 5
