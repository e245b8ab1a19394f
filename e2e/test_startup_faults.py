"""Start-up under faults: racing replicas, a late or absent database, failing or
unknown migrations, bad credentials. Each case ends with the stack left usable."""

import os
import tempfile
import time
from pathlib import Path

import pytest
import requests

from e2e.conftest import BASE, ROOT, Stack, create_project, error_lines, head_revision
from web.container.schema_version import code_revisions

MIGRATION_FILE = "/app/migrations/versions/2099_01_01_0000-e2ehalf_e2e_half_done.py"


@pytest.mark.parametrize("attempt", range(5))
def test_three_replicas_racing_on_a_fresh_database_migrate_once(stack: Stack, attempt: int) -> None:
    scaled = stack.with_overlay(ROOT / "e2e" / "compose.unpublished.yml")
    scaled.down(volumes=True)
    scaled.up("--scale", "web=3")
    ready = scaled.compose("ps", "--format", "{{.Service}} {{.Health}}", "web").stdout.split("\n")
    assert [line for line in ready if line] == ["web healthy"] * 3
    assert scaled.psql("SELECT count(*) FROM alembic_version") == "1"
    logs = scaled.logs("web")
    for revision in code_revisions()[0]:  # each revision applied by exactly one replica
        assert logs.count(f"-> {revision},") == 1, logs
    assert "already exists" not in logs
    assert "error:" not in logs
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


def mounted_revision(head: str, body: str) -> Path:
    """An overlay that adds a test-only revision after `head` to the web container."""
    folder = Path(tempfile.mkdtemp(prefix="e2e-revision-"))
    folder.chmod(0o755)  # the container's user must read it
    revision = folder / "revision.py"
    revision.write_text(
        f'revision = "e2ehalf"\ndown_revision = "{head}"\nbranch_labels = None\ndepends_on = None\n\n'
        f"from alembic import op\n\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n"
        '    op.execute("DROP TABLE e2e_half_done")\n'
    )
    revision.chmod(0o644)
    overlay = folder / "overlay.yml"
    overlay.write_text(f"services:\n  web:\n    volumes:\n      - {revision}:{MIGRATION_FILE}:ro\n")
    return overlay


def test_a_migration_failing_halfway_leaves_no_trace_and_the_fix_applies(stack: Stack) -> None:
    stack.fresh()
    head = head_revision(stack)
    create_project("before the failure")
    failing = stack.with_overlay(
        mounted_revision(
            head,
            (
                'op.execute("CREATE TABLE e2e_half_done (id int)")\n'
                "    op.execute(\"INSERT INTO projects (name) VALUES ('half')\")\n"
                '    raise RuntimeError("failing on purpose")'
            ),
        )
    )
    result = failing.run_web()
    assert result.returncode != 0
    [line] = error_lines(result.stderr)
    assert line == "error: migration failed: RuntimeError: failing on purpose"
    assert "Listening at" not in result.stdout + result.stderr
    assert stack.psql("SELECT version_num FROM alembic_version") == head
    assert stack.psql("SELECT to_regclass('e2e_half_done')") == ""
    assert stack.psql("SELECT string_agg(name, ',') FROM projects") == "before the failure"

    fixed = stack.with_overlay(
        mounted_revision(head, 'op.execute("CREATE TABLE e2e_half_done (id int)")')
    )
    fixed.up()
    assert stack.psql("SELECT version_num FROM alembic_version") == "e2ehalf"
    assert stack.psql("SELECT to_regclass('e2e_half_done')") == "e2e_half_done"
    fixed.down(volumes=True)


def test_a_database_ahead_of_the_code_is_refused_at_start_and_left_alone(stack: Stack) -> None:
    stack.fresh()
    head = head_revision(stack)
    for i in range(3):
        create_project(f"kept {i}")
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
    assert stack.psql("SELECT count(*) FROM projects") == "3"
    assert tables == stack.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables WHERE schemaname='public'"
    )
    stack.psql(f"UPDATE alembic_version SET version_num = '{head}'")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"DATABASE_PASSWORD": "wrong-e2e-password"}, "password authentication failed"),
        (
            {"DATABASE_URL": "postgresql://app@db:5432/no_such_db"},
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
    assert os.environ.get("POSTGRES_PASSWORD", "dev-only-password") not in output
    assert "Traceback" not in output
