"""Migrations against a real PostgreSQL: pytest-alembic's checks, env.py, the advisory lock."""

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pytest_alembic.tests import (  # noqa: F401 (collected as tests)
    test_model_definitions_match_ddl,
    test_single_head_revision,
    test_up_down_consistency,
    test_upgrade,
)

from tests.conftest import (
    SERVER,
    admin_connection,
    alembic_config,
    database_url,
    query,
    recreate_database,
)
from web.app import database_uri
from web.config import load_settings
from web.extensions import db
from web.schema_version import MIGRATION_LOCK_KEY, ROOT, VERSIONS_DIR, code_revisions

MIGRATIONS_DB = f"{SERVER.dbname}_test_migrations"


@pytest.fixture
def alembic_engine(monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """pytest-alembic's database; env.py reaches the same one through DATABASE_URL."""
    recreate_database(MIGRATIONS_DB)
    monkeypatch.setenv("DATABASE_URL", database_url(MIGRATIONS_DB))
    engine = sa.create_engine(database_uri(load_settings()), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def alembic_cli(*args: str, url: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["alembic", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DATABASE_URL": url, **env},
    )


def start_upgrade(database: str, **env: str) -> subprocess.Popen:
    """`alembic upgrade head` in the background; its output, merged, comes from communicate()."""
    return subprocess.Popen(
        ["alembic", "upgrade", "head"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "DATABASE_URL": database_url(database), **env},
    )


def hold_migration_lock(database: str):
    """Take the migration lock as another migrator would; closing the connection frees it."""
    holder = admin_connection(database)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    return holder


def test_env_takes_the_url_from_the_app_config(fresh_database: str) -> None:
    assert "sqlalchemy.url" not in (ROOT / "alembic.ini").read_text()
    upgraded = alembic_cli("upgrade", "head", url=database_url(fresh_database))
    assert upgraded.returncode == 0, upgraded.stderr
    head = code_revisions()[1][0]
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [(head,)]
    current = alembic_cli("current", url=database_url(fresh_database))
    assert f"{head} (head)" in current.stdout


def test_env_reports_a_config_error_in_one_line() -> None:
    result = alembic_cli("current", url="mysql://nope")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: DATABASE_URL is malformed")


def test_offline_sql_needs_no_database() -> None:
    result = alembic_cli("upgrade", "head", "--sql", url="postgresql://nobody@127.0.0.1:1/nothing")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE projects" in result.stdout
    assert "CREATE TABLE tasks" in result.stdout


def autogenerate_config(version_path: Path) -> Config:
    """Alembic's config as `alembic revision --autogenerate` sees it, writing into version_path."""
    config = alembic_config()
    config.cmd_opts = argparse.Namespace(autogenerate=True)
    config.set_main_option("version_locations", f"{VERSIONS_DIR}{os.pathsep}{version_path}")
    return config


def test_no_model_change_writes_no_revision(tmp_path: Path) -> None:
    config = autogenerate_config(tmp_path)
    command.revision(config, "nothing", autogenerate=True, version_path=str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_model_change_writes_a_revision(tmp_path: Path) -> None:
    config = autogenerate_config(tmp_path)
    scratch = sa.Table("scratch", db.metadata, sa.Column("id", sa.Integer, primary_key=True))
    try:
        command.revision(config, "add scratch", autogenerate=True, version_path=str(tmp_path))
    finally:
        db.metadata.remove(scratch)
    [written] = tmp_path.iterdir()
    text = written.read_text()
    assert "op.create_table(" in text
    assert '"scratch"' in text
    # The file name starts with a sortable date: 2026_11_25_1730-<rev>_add_scratch.py
    assert written.name[:4].isdigit() and written.name[4] == "_"
    assert written.name.endswith("_add_scratch.py")


def test_concurrent_upgrades_wait_for_the_lock_and_migrate_once(fresh_database: str) -> None:
    holder = hold_migration_lock(fresh_database)
    upgrades = [start_upgrade(fresh_database) for _ in range(2)]
    try:
        time.sleep(5)  # long enough for both to start, connect and find the lock taken
        assert all(upgrade.poll() is None for upgrade in upgrades), "an upgrade did not wait"
        assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]
        # Waiting holds no transaction open (CREATE INDEX CONCURRENTLY would wait for it).
        assert query(
            fresh_database,
            """
            SELECT count(*) FROM pg_stat_activity
            WHERE datname = %s AND state LIKE 'idle in transaction%%'""",
            fresh_database,
        ) == [(0,)]
    finally:
        holder.close()  # releases the lock
    outputs = [upgrade.communicate(timeout=120)[0] for upgrade in upgrades]
    assert [upgrade.returncode for upgrade in upgrades] == [0, 0], outputs
    for revision in code_revisions()[0]:
        assert sum(f"-> {revision}," in output for output in outputs) == 1, outputs
    assert query(fresh_database, "SELECT count(*) FROM alembic_version") == [(1,)]


def test_lock_wait_is_bounded(fresh_database: str) -> None:
    holder = hold_migration_lock(fresh_database)
    try:
        result = alembic_cli(
            "upgrade", "head", url=database_url(fresh_database), MIGRATION_LOCK_WAIT_MS="500"
        )
    finally:
        holder.close()
    assert result.returncode != 0
    assert (
        "error: another migration held the lock for over 500 ms (MIGRATION_LOCK_WAIT_MS)"
        in result.stderr
    )


# --- the entrypoint's start-up step (web/startup.py) -------------------------


def startup(database: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.startup"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "DATABASE_URL": database_url(database), "PYTHONPATH": str(cwd)},
        check=False,
    )


def test_startup_migrates_an_empty_database_then_takes_the_fast_path(fresh_database: str) -> None:
    first = startup(fresh_database)
    assert first.returncode == 0, first.stderr
    assert "migrating from an empty database" in first.stderr
    second = startup(fresh_database)
    assert second.returncode == 0, second.stderr
    assert "nothing to migrate" in second.stderr
    assert "alembic" not in second.stderr.lower().replace("alembic_version", "")


def test_startup_refuses_a_database_ahead_of_the_code(fresh_database: str) -> None:
    command.upgrade(alembic_config(), "head")
    query(fresh_database, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    before = query(fresh_database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    result = startup(fresh_database)
    assert result.returncode == 1
    head = code_revisions()[1][0]
    assert (
        f"error: database is at revision f00dfeed, which this code does not know (its head is {head})"
        in result.stderr
    )
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("f00dfeed",)]
    assert (
        query(fresh_database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        == before
    )


def copy_of_the_app(tmp_path: Path) -> Path:
    for name in ("web", "migrations"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("alembic.ini", ".squawk.toml"):
        shutil.copy(ROOT / name, tmp_path)
    return tmp_path


def add_revision(app: Path, revision: str, down: str, body: str = "pass") -> None:
    (app / "migrations" / "versions" / f"2099_01_01_0000-{revision}_test.py").write_text(
        f'revision = "{revision}"\ndown_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n\n'
        f"from alembic import op\n\n\ndef upgrade():\n    {body}\n\n\ndef downgrade():\n    pass\n"
    )


def test_startup_refuses_multiple_heads(tmp_path: Path, fresh_database: str) -> None:
    app = copy_of_the_app(tmp_path)
    head = code_revisions()[1][0]
    add_revision(app, "branch1", head)
    add_revision(app, "branch2", head)
    result = startup(fresh_database, cwd=app)
    assert result.returncode == 1
    assert "error: the migrations have 2 heads (branch1, branch2)" in result.stderr
    assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]


def test_a_failing_migration_leaves_the_previous_revision(
    tmp_path: Path, fresh_database: str
) -> None:
    app = copy_of_the_app(tmp_path)
    head = code_revisions()[1][0]
    add_revision(
        app,
        "halfway",
        head,
        'op.execute("CREATE TABLE half_done (id int)")\n    raise RuntimeError("boom")',
    )
    result = startup(fresh_database, cwd=app)
    assert result.returncode == 1
    assert "error: migration failed: RuntimeError: boom" in result.stderr
    # transaction_per_migration: the good revision is committed, the failed one left no trace.
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [(head,)]
    assert query(fresh_database, "SELECT to_regclass('half_done')") == [(None,)]
    add_revision(app, "halfway", head, 'op.execute("CREATE TABLE half_done (id int)")')
    fixed = startup(fresh_database, cwd=app)
    assert fixed.returncode == 0, fixed.stderr
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("halfway",)]


def test_advisory_lock_is_held_through_an_autocommit_block(fresh_database: str) -> None:
    """CREATE INDEX CONCURRENTLY runs outside a transaction; the session-level lock stays held."""
    command.upgrade(alembic_config(), "5fd64f24d4e9")  # the revision before the concurrent index
    holder = admin_connection(fresh_database)
    holder.autocommit = False
    with holder.cursor() as cursor:
        # CREATE INDEX CONCURRENTLY has to wait for this lock, which gives the test time to look.
        cursor.execute("LOCK TABLE tasks IN SHARE MODE")
    upgrade = start_upgrade(fresh_database, MIGRATION_LOCK_TIMEOUT_MS="60000")
    try:
        deadline = time.monotonic() + 30
        building: list[tuple] = []
        while not building and time.monotonic() < deadline:
            building = query(
                fresh_database,
                """
                SELECT pid, backend_xid IS NULL FROM pg_stat_activity
                WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'""",
            )
            time.sleep(0.1)
        assert building, "the concurrent index build never started"
        [(pid, _)] = building
        held = query(
            fresh_database,
            """
            SELECT count(*) FROM pg_locks
            WHERE pid = %s AND locktype = 'advisory' AND granted AND objid = %s""",
            pid,
            MIGRATION_LOCK_KEY & 0xFFFFFFFF,
        )
        assert held == [(1,)]
    finally:
        holder.rollback()
        holder.close()
    output = upgrade.communicate(timeout=120)[0]
    assert upgrade.returncode == 0, output
    assert query(
        fresh_database,
        """
        SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_tasks_created_at'::regclass""",
    ) == [(True,)]
