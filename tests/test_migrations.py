"""Migrations against a real PostgreSQL: env.py, the advisory lock, the start-up step.

These tests use tables and revisions of their own, written on top of whatever the
code's head is (or as the first revision, on an empty history), in a copy of the
app, so they hold with or without the sample and with your own migrations.
"""

import argparse
import importlib
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from pytest_alembic import Config as PytestAlembicConfig

# pytest-alembic's checks (its single-head check is tests/unit/test_revisions.py's, which
# also allows the empty history that `make remove-sample` leaves; its model check is
# tests/test_post_deploy.py's, where both kinds of revision are applied).
from pytest_alembic.tests import (  # noqa: F401 (collected as tests)
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace  # noqa: F401
from pytest_alembic.tests.experimental.all_models_register_on_metadata import (
    get_bare_import_tableset,
    traverse_modules,
    url_to_string,
)

from harness import appcopy
from harness.appcopy import run_in
from harness.database import (
    admin_connection,
    database_env,
    query,
    recreate_database,
    server,
)
from harness.revisions import write_revision
from harness.waiting import wait_until
from web.app.db import db, metadata, migration_uri
from web.base.config import load_settings
from web.base.paths import ROOT, VERSIONS_DIR
from web.base.revisions import MIGRATION_LOCK_KEY, code_revisions, read_revision

pytestmark = pytest.mark.usefixtures("test_database")
MIGRATIONS_DB = f"{server().dbname}_test_migrations"
HEAD = (code_revisions()[1] or (None,))[0]  # the code's head; None on an empty history


def autocommit_revisions() -> list[str]:
    """The revisions that leave their transaction (an autocommit_block())."""
    return sorted(
        read_revision(path)[0]
        for path in VERSIONS_DIR.glob("*.py")
        if "autocommit_block(" in path.read_text()
    )


@pytest.fixture
def alembic_config(request: pytest.FixtureRequest) -> PytestAlembicConfig:
    """pytest-alembic's configuration. Its experimental downgrade check runs every revision
    inside one transaction, where an autocommit block cannot run: it stamps those instead."""
    in_one_transaction = request.node.name == "test_downgrade_leaves_no_trace"
    return PytestAlembicConfig(
        config_options={"script_location": "migrations"},
        skip_revisions=autocommit_revisions() if in_one_transaction else None,
    )


@pytest.fixture
def alembic_engine(monkeypatch: pytest.MonkeyPatch) -> sa.Engine:
    """pytest-alembic's database; it hands env.py a connection of this engine."""
    recreate_database(MIGRATIONS_DB)
    for variable, value in database_env(MIGRATIONS_DB).items():
        monkeypatch.setenv(variable, value)
    # env.py records the revision graph on every run and no downgrade removes it (it is no
    # revision's): a first run, so that the database has it before and after each revision.
    command.stamp(appcopy.alembic_config(), "base")
    # The owner's, as migrations log in.
    engine = sa.create_engine(migration_uri(load_settings()), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def test_all_models_register_on_metadata(alembic_runner) -> None:
    """pytest-alembic's experimental check, for this layout: env.py alone, in a fresh
    interpreter, registers every table that importing every resource and model does. (Its
    own entry point looks for the MetaData in a package's __init__; it is web.app.db's.)"""
    url = url_to_string(alembic_runner.connection_executor.connection.url)
    _, registered_by_env_py = get_bare_import_tableset(url)
    list(traverse_modules("web.api"))
    importlib.import_module("web.models")
    assert registered_by_env_py == set(metadata.tables)


def versions(app: Path) -> Path:
    return app / "migrations" / "versions"


def alembic_cli(
    *args: str, database: str, cwd: Path = ROOT, **env: str
) -> subprocess.CompletedProcess:
    return run_in(cwd, "alembic", *args, database=database, **env)


def start_upgrade(database: str, cwd: Path, **env: str) -> subprocess.Popen:
    """`alembic upgrade head` in the background; its output, merged, comes from communicate()."""
    return subprocess.Popen(
        ["alembic", "upgrade", "head"],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **database_env(database), "PYTHONPATH": str(cwd), **env},
    )


def hold_migration_lock(database: str):
    """Take the migration lock as another migrator would; closing the connection frees it."""
    holder = admin_connection(database)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    return holder


def version_of(database: str) -> list[tuple]:
    return query(database, "SELECT version_num FROM alembic_version")


def test_env_takes_the_url_from_the_app_config(fresh_database: str, app_copy: Path) -> None:
    assert "sqlalchemy.url" not in (ROOT / "alembic.ini").read_text()
    write_revision(
        versions(app_copy), "t_env", HEAD, 'op.execute("CREATE TABLE env_probe (id int)")'
    )
    upgraded = alembic_cli("upgrade", "head", database=fresh_database, cwd=app_copy)
    assert upgraded.returncode == 0, upgraded.stderr
    assert version_of(fresh_database) == [("t_env",)]
    assert query(fresh_database, "SELECT to_regclass('env_probe')::text") == [("env_probe",)]
    assert "t_env (head)" in alembic_cli("current", database=fresh_database, cwd=app_copy).stdout


def test_env_reports_a_config_error_in_one_line() -> None:
    result = alembic_cli("current", database="x", DATABASE_URL="mysql://nope")
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith("error: DATABASE_URL is malformed")


def test_offline_sql_needs_no_database(app_copy: Path) -> None:
    write_revision(
        versions(app_copy), "t_sql", HEAD, 'op.execute("CREATE TABLE sql_probe (id int)")'
    )
    result = alembic_cli(
        "upgrade",
        "head",
        "--sql",
        database="x",
        cwd=app_copy,
        DATABASE_URL="postgresql://nobody@127.0.0.1:1/nothing",
    )
    assert result.returncode == 0, result.stderr
    assert "SET lock_timeout = '5000ms'" in result.stdout
    assert "CREATE TABLE sql_probe (id int)" in result.stdout


def test_env_migrates_on_a_callers_connection_and_transaction(
    fresh_database: str, app_copy: Path
) -> None:
    """Alembic's connection-sharing recipe: config.attributes["connection"]."""
    for revision in versions(app_copy).glob("*.py"):  # an autocommit_block() ends any transaction
        revision.unlink()
    write_revision(
        versions(app_copy),
        "t_shared",
        None,
        """
        op.execute(
            "CREATE TABLE shared_probe AS SELECT pg_backend_pid() AS pid, "
            "(SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid = pg_backend_pid()) AS locks"
        )
        """,
    )
    config = Config(str(app_copy / "alembic.ini"))
    engine = sa.create_engine(migration_uri(load_settings()), poolclass=sa.NullPool)
    with engine.connect() as connection:
        transaction = connection.begin()
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
        # The migration ran on this connection, holding the migration lock, released since.
        assert connection.execute(sa.text("SELECT pid, locks FROM shared_probe")).all() == [
            (pid, 1)
        ]
        assert (
            connection.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE pid = :pid AND locktype = 'advisory'"),
                {"pid": pid},
            )
            == 0
        )
        # ...and in this transaction: nobody else sees it until the caller commits.
        assert query(fresh_database, "SELECT to_regclass('shared_probe')") == [(None,)]
        transaction.rollback()
    engine.dispose()
    assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]


class HandsOverItsConnection:
    """Engine-like: its connect() hands out one connection, already in the caller's transaction
    (as pytest-alembic's experimental tests do)."""

    def __init__(self, connection: sa.Connection) -> None:
        self.connection = connection

    @contextmanager
    def connect(self) -> Iterator[sa.Connection]:
        yield self.connection


def test_env_runs_in_the_transaction_of_a_connection_handed_over_as_an_engine(
    fresh_database: str, app_copy: Path
) -> None:
    for revision in versions(app_copy).glob("*.py"):  # an autocommit_block() ends any transaction
        revision.unlink()
    write_revision(
        versions(app_copy), "t_wrapped", None, 'op.execute("CREATE TABLE wrapped (id int)")'
    )
    config = Config(str(app_copy / "alembic.ini"))
    engine = sa.create_engine(migration_uri(load_settings()), poolclass=sa.NullPool)
    with engine.connect() as connection:
        transaction = connection.begin()
        config.attributes["connection"] = HandsOverItsConnection(connection)
        command.upgrade(config, "head")  # not switched to AUTOCOMMIT: it is the caller's
        assert connection.scalar(sa.text("SELECT to_regclass('wrapped')::text")) == "wrapped"
        assert query(fresh_database, "SELECT to_regclass('wrapped')") == [(None,)]
        transaction.rollback()
    engine.dispose()
    assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]


def test_env_migrates_on_a_callers_connection_outside_a_transaction(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(
        versions(app_copy),
        "t_given",
        HEAD,
        'op.execute("CREATE TABLE given_probe AS SELECT pg_backend_pid() AS pid")',
    )
    config = Config(str(app_copy / "alembic.ini"))
    engine = sa.create_engine(migration_uri(load_settings()), poolclass=sa.NullPool)
    with engine.connect() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
        pid = connection.scalar(sa.text("SELECT pg_backend_pid()"))
    engine.dispose()
    # Committed revision by revision, on the caller's connection.
    assert query(fresh_database, "SELECT pid FROM given_probe") == [(pid,)]
    assert version_of(fresh_database) == [("t_given",)]


def autogenerate_config(version_path: Path) -> Config:
    """Alembic's config as `alembic revision --autogenerate` sees it, writing into version_path."""
    config = appcopy.alembic_config()
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


def test_concurrent_upgrades_wait_for_the_lock_and_migrate_once(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(versions(app_copy), "t_once", HEAD, 'op.execute("CREATE TABLE once (id int)")')
    holder = hold_migration_lock(fresh_database)
    upgrades = [start_upgrade(fresh_database, app_copy) for _ in range(2)]
    try:
        # Both start, connect and find the lock taken; waiting holds no transaction open
        # (CREATE INDEX CONCURRENTLY would wait for it).
        wait_until(
            lambda: query(
                fresh_database,
                """SELECT count(*) = 2 AND count(*) FILTER (WHERE state LIKE 'idle in transaction%%') = 0
                FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()
                AND query LIKE '%%pg_try_advisory_lock%%'""",
                fresh_database,
            )[0][0],
            "both upgrades polling the lock",
        )
        assert all(upgrade.poll() is None for upgrade in upgrades), "an upgrade did not wait"
        assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]
    finally:
        holder.close()  # releases the lock
    outputs = [upgrade.communicate(timeout=120)[0] for upgrade in upgrades]
    assert [upgrade.returncode for upgrade in upgrades] == [0, 0], outputs
    for revision in (*code_revisions()[0], "t_once"):
        assert sum(f"-> {revision}," in output for output in outputs) == 1, outputs
    assert query(fresh_database, "SELECT count(*) FROM alembic_version") == [(1,)]


def test_lock_wait_is_bounded(fresh_database: str) -> None:
    holder = hold_migration_lock(fresh_database)
    try:
        result = alembic_cli(
            "upgrade", "head", database=fresh_database, MIGRATION_LOCK_WAIT_MS="500"
        )
    finally:
        holder.close()
    assert result.returncode != 0
    assert (
        "error: another migration held the lock for over 500 ms (MIGRATION_LOCK_WAIT_MS)"
        in result.stderr
    )


def test_advisory_lock_is_held_through_an_autocommit_block(
    fresh_database: str, app_copy: Path
) -> None:
    """CREATE INDEX CONCURRENTLY runs outside a transaction; the session-level lock stays held."""
    write_revision(
        versions(app_copy),
        "t_table",
        HEAD,
        'op.execute("CREATE TABLE lock_probe (id int, created_at timestamptz)")',
    )
    write_revision(
        versions(app_copy),
        "t_index",
        "t_table",
        """
        with op.get_context().autocommit_block():
            op.execute("CREATE INDEX CONCURRENTLY ix_lock_probe ON lock_probe (created_at)")
        """,
    )
    assert alembic_cli("upgrade", "t_table", database=fresh_database, cwd=app_copy).returncode == 0
    holder = admin_connection(fresh_database)
    holder.autocommit = False
    with holder.cursor() as cursor:
        # CREATE INDEX CONCURRENTLY has to wait for this lock, which gives the test time to look.
        cursor.execute("LOCK TABLE lock_probe IN SHARE MODE")
    upgrade = start_upgrade(fresh_database, app_copy, MIGRATION_LOCK_TIMEOUT_MS="60000")
    try:
        [(pid, _)] = wait_until(
            lambda: query(
                fresh_database,
                """
                SELECT pid, backend_xid IS NULL FROM pg_stat_activity
                WHERE query LIKE 'CREATE INDEX CONCURRENTLY%%' AND wait_event_type = 'Lock'""",
            ),
            "the concurrent index build waiting",
        )
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
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_lock_probe'::regclass",
    ) == [(True,)]


# --- the entrypoint's start-up step (web/container/startup.py) -------------------


def startup(database: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return run_in(cwd, sys.executable, "-m", "web.container.startup", database=database)


def test_startup_migrates_an_empty_database_then_takes_the_fast_path(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(versions(app_copy), "t_fast", HEAD)
    first = startup(fresh_database, app_copy)
    assert first.returncode == 0, first.stderr
    assert "migrating from an empty database to t_fast" in first.stderr
    second = startup(fresh_database, app_copy)
    assert second.returncode == 0, second.stderr
    assert "database is at head t_fast; nothing to migrate" in second.stderr
    assert "alembic" not in second.stderr.lower().replace("alembic_version", "")


def test_startup_on_an_empty_history_has_nothing_to_do(fresh_database: str, app_copy: Path) -> None:
    for revision in versions(app_copy).glob("*.py"):
        revision.unlink()
    result = startup(fresh_database, app_copy)
    assert result.returncode == 0, result.stderr
    assert "database is at head (no migrations); nothing to migrate" in result.stderr


def newer_release_migrated(app: Path, database: str, extra: str) -> None:
    """`database` migrated by a newer release: `app` plus revision t_newer (a table), applied
    by its start-up step, then the file removed, so that `app` is the older release again."""
    newer = write_revision(
        versions(app), "t_newer", "t_base", 'op.execute("CREATE TABLE newer (id int)")'
    )
    assert startup(database, app).returncode == 0
    newer.unlink()
    assert version_of(database) == [("t_newer",)], extra


def test_startup_serves_a_database_ahead_of_the_code_without_migrating(
    fresh_database: str, app_copy: Path
) -> None:
    """An image rolled back, or an old replica restarting mid-rollout: one clear line, no error."""
    write_revision(versions(app_copy), "t_base", HEAD, 'op.execute("CREATE TABLE kept (id int)")')
    assert startup(fresh_database, app_copy).returncode == 0
    newer_release_migrated(app_copy, fresh_database, "the newer release migrated")
    result = startup(fresh_database, app_copy)
    assert result.returncode == 0, result.stderr
    assert (
        "database ahead, at t_newer; this code's head is t_base; serving without migrating"
        in result.stderr
    )
    assert "error" not in result.stderr.lower()
    assert version_of(fresh_database) == [("t_newer",)]


def test_startup_refuses_a_database_on_another_branch(fresh_database: str, app_copy: Path) -> None:
    write_revision(versions(app_copy), "t_base", HEAD, 'op.execute("CREATE TABLE kept (id int)")')
    assert startup(fresh_database, app_copy).returncode == 0
    # A revision no release recorded as descending from t_base (another branch's).
    query(fresh_database, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    before = query(fresh_database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
    result = startup(fresh_database, app_copy)
    assert result.returncode == 1
    assert (
        "error: database is at revision f00dfeed, which this code does not know (its head is "
        "t_base) and which is not recorded as descending from it; refusing to start"
        in result.stderr
    )
    assert version_of(fresh_database) == [("f00dfeed",)]
    assert (
        query(fresh_database, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
        == before
    )


def test_startup_drops_an_index_a_cut_off_concurrent_build_left_invalid(
    fresh_database: str, app_copy: Path
) -> None:
    """The revision's CREATE INDEX CONCURRENTLY failed half way: the failed start drops the
    INVALID index it left (a run cut off by a kill leaves it to the next run: test_post_deploy),
    and the next start builds it."""
    write_revision(
        versions(app_copy),
        "t_base",
        HEAD,
        'op.execute("CREATE TABLE dup (n int)")\nop.execute("INSERT INTO dup VALUES (1), (1)")',
    )
    write_revision(
        versions(app_copy),
        "t_index",
        "t_base",
        "with op.get_context().autocommit_block():\n"
        '    op.execute("CREATE UNIQUE INDEX CONCURRENTLY ix_dup_n ON dup (n)")',
    )
    failed = startup(fresh_database, app_copy)
    assert failed.returncode == 1
    assert "dropped the invalid index public.ix_dup_n" in failed.stderr
    assert query(fresh_database, "SELECT to_regclass('ix_dup_n')") == [(None,)]
    query(fresh_database, "DELETE FROM dup WHERE ctid = (SELECT max(ctid) FROM dup)")
    fixed = startup(fresh_database, app_copy)
    assert fixed.returncode == 0, fixed.stderr
    invalid = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_dup_n'::regclass"
    assert query(fresh_database, invalid) == [(True,)]
    assert version_of(fresh_database) == [("t_index",)]


def test_startup_refuses_multiple_heads(app_copy: Path, fresh_database: str) -> None:
    write_revision(versions(app_copy), "branch1", HEAD)
    write_revision(versions(app_copy), "branch2", HEAD)
    result = startup(fresh_database, cwd=app_copy)
    assert result.returncode == 1
    assert "error: the migrations have 2 heads (branch1, branch2)" in result.stderr
    assert query(fresh_database, "SELECT to_regclass('alembic_version')") == [(None,)]


def test_a_failing_migration_leaves_the_previous_revision(
    app_copy: Path, fresh_database: str
) -> None:
    write_revision(versions(app_copy), "t_good", HEAD, 'op.execute("CREATE TABLE good (id int)")')
    write_revision(
        versions(app_copy),
        "t_half",
        "t_good",
        'op.execute("CREATE TABLE half_done (id int)")\nraise RuntimeError("boom")',
    )
    result = startup(fresh_database, cwd=app_copy)
    assert result.returncode == 1
    assert "error: migration failed: RuntimeError: boom" in result.stderr
    # transaction_per_migration: the good revision is committed, the failed one left no trace.
    assert version_of(fresh_database) == [("t_good",)]
    assert query(fresh_database, "SELECT to_regclass('half_done')") == [(None,)]
    write_revision(
        versions(app_copy), "t_half", "t_good", 'op.execute("CREATE TABLE half_done (id int)")'
    )
    fixed = startup(fresh_database, cwd=app_copy)
    assert fixed.returncode == 0, fixed.stderr
    assert version_of(fresh_database) == [("t_half",)]
