"""Start-up under faults: racing replicas, a late or absent database, failing or
unknown migrations, bad credentials. Each case ends with the stack left usable."""

import subprocess
import time

import pytest
import requests

from harness.compose import (
    BASE,
    ROOT,
    VERSIONS,
    Stack,
    create_item,
    error_lines,
    head_revision,
    item_names,
    mount_overlay,
    readable_folder,
)
from harness.revisions import PROBE_REVISION, write_revision
from harness.waiting import wait_until
from web.base.revisions import code_revisions


@pytest.mark.parametrize("attempt", range(5))
def test_three_replicas_racing_on_a_fresh_database_migrate_once(stack: Stack, attempt: int) -> None:
    scaled = stack.with_overlay(ROOT / "e2e" / "compose.unpublished.yml")
    scaled.down(volumes=True)
    scaled.up("--scale", "web=3")
    ready = scaled.compose("ps", "--format", "{{.Service}} {{.Health}}", "web").stdout.split("\n")
    assert [line for line in ready if line] == ["web healthy"] * 3
    assert scaled.psql("SELECT count(*) FROM alembic_version") == "1"
    assert head_revision(scaled) == PROBE_REVISION
    logs = scaled.logs("web")
    # Each revision applied by exactly one replica: the code's, and the probe's on top.
    for revision in {*code_revisions()[0], PROBE_REVISION}:
        assert logs.count(f"-> {revision},") == 1, logs
    assert "already exists" not in logs
    assert '"level": "error"' not in logs and "error:" not in logs  # JSON or text logs
    scaled.down(volumes=True)


def test_web_waits_for_a_late_database(stack: Stack) -> None:
    stack.up()
    stack.compose("stop", "db", "web")
    stack.compose("up", "-d", "--no-deps", "web")
    time.sleep(10)
    assert "waiting up to" in stack.logs("web")
    stack.compose("start", "db")
    stack.wait_ready(timeout=90)
    assert stack.container("web")["RestartCount"] == 0


def test_web_gives_up_when_the_database_never_comes(stack: Stack) -> None:
    stack.up()
    stack.compose("stop", "db")
    try:
        started = time.monotonic()
        result = stack.run_web(DB_WAIT_TIMEOUT="5")
        took = time.monotonic() - started
    finally:
        stack.compose("start", "db")
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert line.startswith("error: database db:5432 not reachable after 5s (DB_WAIT_TIMEOUT)")
    assert "Listening at" not in result.stdout + result.stderr
    assert took < 60


def with_revision(stack: Stack, head: str, upgrade: str) -> Stack:
    """`stack` with one more revision, e2ehalf after `head`, mounted into web."""
    folder = readable_folder("e2e-revision-")
    revision = write_revision(
        folder, "e2ehalf", head, upgrade, 'op.execute("DROP TABLE e2e_half_done")'
    )
    return stack.with_overlay(mount_overlay(folder, {revision: f"{VERSIONS}/{revision.name}"}))


def test_a_migration_failing_halfway_leaves_no_trace_and_the_fix_applies(stack: Stack) -> None:
    stack.fresh()
    head = head_revision(stack)
    create_item("before the failure")
    failing = with_revision(
        stack,
        head,
        """
        op.execute("CREATE TABLE e2e_half_done (id int)")
        op.execute("INSERT INTO probe_items (name) VALUES ('half')")
        raise RuntimeError("failing on purpose")
        """,
    )
    result = failing.run_web()
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert line == "error: migration failed: RuntimeError: failing on purpose"
    assert "Listening at" not in result.stdout + result.stderr
    assert stack.psql("SELECT version_num FROM alembic_version") == head
    assert stack.psql("SELECT to_regclass('e2e_half_done')") == ""
    assert stack.psql("SELECT string_agg(name, ',') FROM probe_items") == "before the failure"

    fixed = with_revision(stack, head, 'op.execute("CREATE TABLE e2e_half_done (id int)")')
    fixed.up()
    assert stack.psql("SELECT version_num FROM alembic_version") == "e2ehalf"
    assert stack.psql("SELECT to_regclass('e2e_half_done')") == "e2e_half_done"
    fixed.down(volumes=True)


def with_revisions(stack: Stack, *revisions: tuple[str, str | None, str]) -> Stack:
    """`stack` with more revisions (id, down revision, upgrade body) mounted into web."""
    folder = readable_folder("e2e-revision-")
    mounts = {}
    for revision, down, upgrade in revisions:
        path = write_revision(folder, revision, down, upgrade)
        mounts[path] = f"{VERSIONS}/{path.name}"
    return stack.with_overlay(mount_overlay(folder, mounts))


def test_an_older_image_starts_and_serves_on_the_newer_schema(running: Stack) -> None:
    """v1, then v2 (a new table, with a foreign key to v1's), then v1's image again: a rollback."""
    stack = running
    head = head_revision(stack)
    earlier = item_names()
    create_item("written by v1")
    v2 = with_revisions(
        stack,
        (
            "e2ev2",
            head,
            'op.execute("CREATE TABLE e2e_notes (id serial PRIMARY KEY, '
            'item_id int REFERENCES probe_items (id), body text)")',
        ),
    )
    v2.up()
    assert head_revision(stack) == "e2ev2"

    stack.up()  # v1's web again, on v2's schema
    ready = requests.get(f"{BASE}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["schema"] == "ahead"
    assert ready.json()["note"] == f"database is at revision e2ev2, ahead of this code's {head}"
    create_item("written by v1 after the rollback")
    assert item_names() == [*earlier, "written by v1", "written by v1 after the rollback"]
    logs = stack.logs("web")
    assert (
        f"database ahead, at e2ev2; this code's head is {head}; serving without migrating" in logs
    )
    assert error_lines(logs) == []
    assert stack.container("web")["RestartCount"] == 0
    assert head_revision(stack) == "e2ev2"
    stack.psql(f"DROP TABLE e2e_notes; UPDATE alembic_version SET version_num = '{head}'")


def advisory_locks(stack: Stack) -> int:
    return int(stack.psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"))


def test_sigterm_during_a_migration_stops_at_once_and_the_next_start_migrates(
    running: Stack,
) -> None:
    """A CREATE INDEX CONCURRENTLY waiting on a writer's open transaction, stopped half way:
    the container is gone within 5 s, the lock is free, and the next start drops the INVALID
    index its build left and builds it again."""
    stack = running
    head = head_revision(stack)
    slow = with_revisions(
        stack,
        (
            "e2eslow",
            head,
            "with op.get_context().autocommit_block():\n"
            '    op.execute("CREATE INDEX CONCURRENTLY ix_e2e_slow ON probe_items (created_at)")',
        ),
    )
    # No lock_timeout (it would end the build's wait for the writer before the stop does).
    patient = readable_folder("e2e-env-") / "env.yml"
    patient.write_text(
        "services:\n  web:\n    environment:\n      MIGRATION_LOCK_TIMEOUT_MS: '0'\n"
    )
    slow = slow.with_overlay(patient)
    # A writer's open transaction: the concurrent build waits for it after creating its index.
    writer = stack.psql_session()
    writer.stdin.write(
        "SET application_name = 'e2e-writer';\nBEGIN;\n"
        "INSERT INTO probe_items (name) VALUES ('held');\n"
    )
    writer.stdin.flush()
    try:
        wait_until(
            lambda: (
                stack.psql(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'e2e-writer' "
                    "AND state = 'idle in transaction'"
                )
                == "1"
            ),
            "the writer waiting",
            30,
        )
        slow.compose("up", "-d", "--no-deps", "web")
        wait_until(
            lambda: stack.psql("SELECT count(*) FROM pg_stat_progress_create_index") == "1",
            "the concurrent build waiting for the writer",
            90,
            0.2,
        )
        started = time.monotonic()
        slow.compose("stop", "--timeout", "30", "web")
        took = time.monotonic() - started
        assert took <= 5, took
        assert stack.container("web")["State"]["ExitCode"] == 143
        assert "stopped by SIGTERM before serving" in stack.logs("web")
        wait_until(lambda: advisory_locks(stack) == 0, "the migration lock free", 10, 0.2)
        invalid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_e2e_slow'::regclass"
        assert stack.psql(invalid) == "f"
    finally:
        writer.stdin.close()  # ends the session: its transaction rolls back
        writer.wait(timeout=30)
    slow.up()
    assert head_revision(stack) == "e2eslow"
    assert stack.psql(invalid) == "t"
    assert "dropped the invalid index public.ix_e2e_slow" in stack.logs("web")
    stack.psql(f"DROP INDEX ix_e2e_slow; UPDATE alembic_version SET version_num = '{head}'")
    stack.up()


def test_a_migration_client_cut_off_the_network_frees_the_lock_within_a_minute(
    running: Stack,
) -> None:
    """No FIN, no RST: the server's keepalives and client_connection_check_interval end its
    backend, and the advisory lock with it."""
    stack = running
    head = head_revision(stack)
    slow = with_revisions(stack, ("e2esleep", head, 'op.execute("SELECT pg_sleep(600)")'))
    slow.compose("up", "-d", "--no-deps", "web")
    try:
        wait_until(lambda: advisory_locks(stack) == 1, "the migration holding its lock", 90, 0.2)
        web = stack.container("web")
        network = next(iter(web["NetworkSettings"]["Networks"]))
        subprocess.run(
            ["docker", "network", "disconnect", network, web["Id"]], check=True, timeout=30
        )
        started = time.monotonic()
        wait_until(lambda: advisory_locks(stack) == 0, "the migration lock free", 60, 1)
        print(f"\nthe lock of a client cut off was freed after {time.monotonic() - started:.0f}s")
        assert (
            stack.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%pg_sleep(600)%' AND pid <> pg_backend_pid()"
            )
            == "0"
        )
    finally:
        stack.compose("rm", "--stop", "--force", "web")
    assert head_revision(stack) == head
    stack.up()


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {
                "MIGRATION_DATABASE_PASSWORD": "wrong-e2e-password",
                "MIGRATION_DATABASE_PASSWORD_FILE": "",
            },
            "password authentication failed",
        ),
        (
            {"DATABASE_URL": "postgresql://app_runtime@db:5432/no_such_db"},
            'database "no_such_db" does not exist',
        ),
        ({"DATABASE_URL": "postgresql://nobody@db:5432/app"}, "nobody"),
        ({"DATABASE_URL": "postgres//db/app"}, "DATABASE_URL is malformed"),
        ({"SECRET_KEY": "", "SECRET_KEY_FILE": ""}, "SECRET_KEY is not set"),
    ],
    ids=["wrong-password", "wrong-database", "wrong-user", "malformed-url", "no-secret-key"],
)
def test_bad_credentials_and_config_are_one_line_errors(
    running: Stack, env: dict, expected: str
) -> None:
    result = running.run_web(**env)
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert expected in line
    output = result.stdout + result.stderr
    assert "wrong-e2e-password" not in output
    for secret in (ROOT / "dev-only-secrets").glob("*_password"):
        assert secret.read_text().strip() not in output
    assert "Traceback" not in output
