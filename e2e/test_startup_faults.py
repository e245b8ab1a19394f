"""Start-up under faults: racing replicas, a late or absent database, failing or
unknown migrations, bad credentials. Each case ends with the stack left usable."""

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
    mount_overlay,
    readable_folder,
)
from harness.revisions import PROBE_REVISION, write_revision
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


def test_a_database_ahead_of_the_code_is_refused_at_start_and_left_alone(stack: Stack) -> None:
    stack.fresh()
    head = head_revision(stack)
    for i in range(3):
        create_item(f"kept {i}")
    stack.psql("UPDATE alembic_version SET version_num = 'fee1900d'")
    tables = stack.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public'"
    )

    # A replica already serving stays ready (as the old ones must during a rolling deploy)...
    ready = requests.get(f"{BASE}/readyz", timeout=5)
    assert ready.status_code == 200
    assert ready.json()["note"] == f"database is at revision fee1900d, ahead of this code's {head}"
    # ...but this image will not start on it.

    result = stack.run_web()
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert "fee1900d" in line and head in line and "refusing to start" in line
    assert stack.psql("SELECT version_num FROM alembic_version") == "fee1900d"
    assert stack.psql("SELECT count(*) FROM probe_items") == "3"
    assert tables == stack.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public'"
    )
    stack.psql(f"UPDATE alembic_version SET version_num = '{head}'")


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
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
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
