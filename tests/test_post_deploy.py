"""Post-deploy revisions (alembic.ini's [post] section, migrations/post_deploy/) against a real
PostgreSQL, and the start-up step's deadline (MIGRATE_ON_START_TIMEOUT).

pytest-alembic's checks run here on the post-deploy environment, over a database already at
the deploy-time head; its model check runs here only, where both kinds are applied, since a
post-deploy revision may drop what the models no longer have. Revisions of their own, in a
copy of the app.
"""

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from pytest_alembic import Config

# pytest-alembic's checks, on the post-deploy environment (collected as tests).
from pytest_alembic.tests import (  # noqa: F401
    test_model_definitions_match_ddl,
    test_up_down_consistency,
    test_upgrade,
)
from pytest_alembic.tests.experimental import test_downgrade_leaves_no_trace  # noqa: F401

from harness.appcopy import run_in
from harness.database import (
    admin_connection,
    as_owner,
    database_env,
    query,
    recreate_database,
    server,
)
from harness.revisions import write_revision
from harness.waiting import wait_until
from web.app.db import migration_uri
from web.base.config import load_settings
from web.base.paths import ALEMBIC_INI, ROOT
from web.base.revisions import MIGRATION_LOCK_KEY, POST_SECTION, code_revisions

pytestmark = pytest.mark.usefixtures("test_database")
POST_DB = f"{server().dbname}_test_post_deploy"
HEAD = (code_revisions()[1] or (None,))[0]


@pytest.fixture
def alembic_config() -> Config:
    """pytest-alembic's configuration: the post-deploy environment."""
    return Config(alembic_config=AlembicConfig(str(ALEMBIC_INI), ini_section=POST_SECTION))


@pytest.fixture
def alembic_engine(monkeypatch: pytest.MonkeyPatch) -> Iterator[sa.Engine]:
    """A database at the deploy-time head, for pytest-alembic to run the post-deploy ones on."""
    recreate_database(POST_DB)
    for variable, value in database_env(POST_DB).items():
        monkeypatch.setenv(variable, value)
    command.upgrade(AlembicConfig(str(ALEMBIC_INI)), "head")
    engine = sa.create_engine(migration_uri(load_settings()), poolclass=sa.NullPool)
    yield engine
    engine.dispose()


def run_alembic(app: Path, *args: str, database: str, **env: str) -> subprocess.CompletedProcess:
    return run_in(app, "alembic", *args, database=database, **env)


def post(app: Path) -> Path:
    return app / "migrations" / "post_deploy"


def versions(app: Path) -> Path:
    return app / "migrations" / "versions"


def test_the_start_up_step_applies_the_deploy_time_revisions_only(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(
        versions(app_copy), "t_expand", HEAD, 'op.execute("CREATE TABLE wide (a int, b int)")'
    )
    write_revision(
        post(app_copy),
        "t_contract",
        None,
        'op.execute("ALTER TABLE wide DROP COLUMN b")',
        needs="t_expand",
    )
    started = run_in(
        app_copy, sys.executable, "-m", "web.container.startup", database=fresh_database
    )
    assert started.returncode == 0, started.stderr
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("t_expand",)]
    assert query(fresh_database, "SELECT to_regclass('alembic_version_post')") == [(None,)]
    columns = "SELECT count(*) FROM information_schema.columns WHERE table_name = 'wide'"
    assert query(fresh_database, columns) == [(2,)]
    applied = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
    assert applied.returncode == 0, applied.stderr
    assert "post-deploy upgrade t_contract done in" in applied.stderr
    assert query(fresh_database, "SELECT version_num FROM alembic_version_post") == [
        ("t_contract",)
    ]
    assert query(fresh_database, columns) == [(1,)]
    # Each environment reports its own revisions, and leaves the other's table alone.
    assert (
        "t_contract (head)"
        in run_alembic(app_copy, "-n", "post", "current", database=fresh_database).stdout
    )
    assert "t_expand (head)" in run_alembic(app_copy, "current", database=fresh_database).stdout
    history = run_alembic(app_copy, "-n", "post", "history", database=fresh_database)
    assert "<base> -> t_contract (head)" in history.stdout


def test_a_post_deploy_revision_waits_for_the_deploy_time_revision_it_needs(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(versions(app_copy), "t_first", HEAD, 'op.execute("CREATE TABLE keep (a int)")')
    write_revision(versions(app_copy), "t_second", "t_first")
    write_revision(
        post(app_copy), "t_drop", None, 'op.execute("DROP TABLE keep")', needs="t_second"
    )
    assert run_alembic(app_copy, "upgrade", "t_first", database=fresh_database).returncode == 0
    refused = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
    assert refused.returncode != 0
    assert (
        "error: post-deploy revision t_drop needs deploy-time revision t_second, which the "
        "database does not have (it is at t_first); deploy it first"
    ) in refused.stderr
    assert query(fresh_database, "SELECT to_regclass('keep')::text") == [("keep",)]
    assert query(fresh_database, "SELECT pg_try_advisory_lock(%s)", MIGRATION_LOCK_KEY) == [(True,)]
    assert run_alembic(app_copy, "upgrade", "head", database=fresh_database).returncode == 0
    applied = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
    assert applied.returncode == 0, applied.stderr
    assert query(fresh_database, "SELECT to_regclass('keep')") == [(None,)]


def test_post_deploy_runs_wait_for_the_same_migration_lock(fresh_database: str) -> None:
    holder = admin_connection(fresh_database)
    with holder.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_KEY,))
    try:
        result = run_in(
            ROOT, "alembic", "-n", "post", "upgrade", "head",
            database=fresh_database, MIGRATION_LOCK_WAIT_MS="500",
        )  # fmt: skip
    finally:
        holder.close()
    assert result.returncode != 0
    assert "error: another migration held the lock for over 500 ms" in result.stderr


def test_make_revision_post_writes_a_post_deploy_revision_naming_the_deploy_time_head(
    fresh_database: str, app_copy: Path
) -> None:
    """`make revision post=1`: autogenerate, in the post-deploy environment."""
    assert run_alembic(app_copy, "upgrade", "head", database=fresh_database).returncode == 0
    as_owner(fresh_database, "CREATE TABLE leftover (id int)")  # the models no longer have it
    written = run_alembic(
        app_copy, "-n", "post", "revision", "--autogenerate", "-m", "drop leftover",
        database=fresh_database,
    )  # fmt: skip
    assert written.returncode == 0, written.stderr
    [path] = post(app_copy).glob("*_drop_leftover.py")
    text = path.read_text()
    assert f"needs_deploy_revision: str | None = {HEAD!r}" in text.replace('"', "'")
    assert 'op.drop_table("leftover")' in text
    assert list(versions(app_copy).glob("*_drop_leftover.py")) == []
    # `make check` fails until it is applied, then passes for both kinds.
    assert run_alembic(app_copy, "check", database=fresh_database).returncode != 0
    applied = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
    assert applied.returncode == 0, applied.stderr
    for section in ([], ["-n", "post"]):
        checked = run_alembic(app_copy, *section, "check", database=fresh_database)
        assert checked.returncode == 0, checked.stderr


INDEX = """
with op.get_context().autocommit_block():
    op.execute("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS ix_dup_a ON dup (a)")
"""


def test_a_half_built_concurrent_index_is_dropped_and_built_again(
    fresh_database: str, app_copy: Path
) -> None:
    """A CREATE INDEX CONCURRENTLY cut off half way leaves an INVALID index under its name;
    the next run drops it first, so the revision builds it afresh (IF NOT EXISTS alone would
    keep the broken one), and leaves alone an index some session is building now."""
    tables = "CREATE TABLE dup (a int, b int); CREATE TABLE other (b int)"
    write_revision(versions(app_copy), "t_dup", HEAD, f"op.execute({tables!r})")
    write_revision(post(app_copy), "t_unique", None, INDEX, needs="t_dup")
    assert run_alembic(app_copy, "upgrade", "head", database=fresh_database).returncode == 0
    # The state a build cut off half way leaves: the failed build of a unique index.
    query(fresh_database, "INSERT INTO dup VALUES (1, 1), (1, 2)")
    with pytest.raises(Exception, match="could not create unique index"):
        query(fresh_database, "CREATE UNIQUE INDEX CONCURRENTLY ix_dup_a ON dup (a)")
    query(fresh_database, "DELETE FROM dup WHERE b = 2")
    invalid = "SELECT indexrelid::regclass::text FROM pg_index WHERE NOT indisvalid"
    assert query(fresh_database, invalid) == [("ix_dup_a",)]
    # Someone else's build under way, on another table: it waits for a writer's transaction.
    writer = admin_connection(fresh_database)
    writer.autocommit = False
    with writer.cursor() as cursor:
        cursor.execute("INSERT INTO other VALUES (5)")
    other = "CREATE INDEX CONCURRENTLY ix_other_b ON other (b)"
    building = threading.Thread(target=query, args=(fresh_database, other))
    building.start()
    under_way = "SELECT count(*) FROM pg_stat_progress_create_index"
    try:
        wait_until(lambda: query(fresh_database, under_way)[0][0], "the other build under way")
        result = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
        assert result.returncode == 0, result.stderr
        assert "dropped the invalid index public.ix_dup_a" in result.stderr, result.stderr[:1500]
        assert "ix_other_b" not in result.stderr
    finally:
        writer.rollback()
        writer.close()
        building.join(timeout=60)
    valid = "SELECT indexrelid::regclass::text, indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid WHERE c.relname IN ('dup', 'other') ORDER BY 1"
    assert query(fresh_database, valid) == [("ix_dup_a", True), ("ix_other_b", True)]


# --- the start-up step's deadline ----------------------------------------------------

# An index whose every entry takes 0.5 s to compute: a build as long as its rows make it.
SLOW_TABLE = """
op.execute("CREATE TABLE slow (id int)")
op.execute("INSERT INTO slow SELECT generate_series(1, 40)")
op.execute(
    "CREATE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
    "AS $$ BEGIN PERFORM pg_sleep(0.5); RETURN i; END $$"
)
"""
SLOW_INDEX = """
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY ix_slow ON slow (slow_key(id))")
"""


def test_a_deploy_time_migration_past_its_deadline_is_cancelled_cleanly(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(versions(app_copy), "t_quick", HEAD, SLOW_TABLE)
    write_revision(versions(app_copy), "t_slow", "t_quick", SLOW_INDEX)
    result = run_in(
        app_copy, sys.executable, "-m", "web.container.startup",
        database=fresh_database, MIGRATE_ON_START_TIMEOUT="3",
    )  # fmt: skip
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith(
        "error: deploy-time migrations ran over MIGRATE_ON_START_TIMEOUT (3 s): stopped ("
    ), errors
    assert "canceling statement due to user request" in errors[0]
    # The quick revision stays; the slow one left nothing: no half-built index, no lock.
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [("t_quick",)]
    assert query(fresh_database, "SELECT count(*) FROM pg_index WHERE NOT indisvalid") == [(0,)]
    assert query(fresh_database, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == [
        (0,)
    ]


# --- docs/deploying.md's worked change, as written ----------------------------------


def doc_files() -> list[tuple[str, str]]:
    """The code blocks of docs/deploying.md's worked change that name a file, in order."""
    doc = (ROOT / "docs" / "deploying.md").read_text()
    section = doc.split("## A change from start to finish", 1)[1]
    files = []
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        first, _, rest = block.partition("\n")
        if first.startswith("# migrations/"):
            files.append((first[2:], rest))
    return files


def body(source: str) -> str:
    return source.split("def upgrade() -> None:\n", 1)[1]


def test_the_worked_change_works_as_written(app_copy: Path, fresh_database: str) -> None:
    files = doc_files()
    [expand] = [source for path, source in files if path.startswith("migrations/versions/")]
    [backfill] = [source for path, source in files if path.startswith("migrations/backfills/")]
    contract = [(path, source) for path, source in files if "/post_deploy/" in path]
    assert [path.split("<rev>_", 1)[1] for path, _ in contract] == [
        "index_notes_text_key.py",
        "check_notes_text_key.py",
        "notes_text_key_not_null.py",
    ]
    for revision in versions(app_copy).glob("*.py"):  # a `notes` table of the test's own
        revision.unlink()
    release_0 = (
        'op.execute("CREATE TABLE notes (id serial PRIMARY KEY, text varchar(500) NOT NULL)")\n'
        "op.execute(\"INSERT INTO notes (text) SELECT 'Note ' || i FROM generate_series(1, 3000) i\")"
    )
    write_revision(versions(app_copy), "t_notes", None, release_0)
    write_revision(versions(app_copy), "t_expand", "t_notes", body(expand))
    # 1. Expand, through the start-up step; then rows from both releases' code.
    started = run_in(
        app_copy, sys.executable, "-m", "web.container.startup", database=fresh_database
    )
    assert started.returncode == 0, started.stderr
    query(fresh_database, "INSERT INTO notes (text) VALUES ('Old code')")
    query(fresh_database, "INSERT INTO notes (text, text_key) VALUES ('New', 'new')")
    # 2. Backfill.
    (app_copy / "migrations" / "backfills" / "notes_text_key.py").write_text(backfill)
    filled = run_in(
        app_copy, sys.executable, "-m", "web.ops.backfill", "notes_text_key",
        database=fresh_database, BACKFILL_PAUSE_MS="10",
    )  # fmt: skip
    assert filled.returncode == 0, filled.stderr
    # 3. Contract: the three post-deploy revisions.
    down = None
    for n, (_, source) in enumerate(contract):
        write_revision(post(app_copy), f"t_contract{n}", down, body(source), needs="t_expand")
        down = f"t_contract{n}"
    applied = run_alembic(app_copy, "-n", "post", "upgrade", "head", database=fresh_database)
    assert applied.returncode == 0, applied.stderr
    not_null = "SELECT attnotnull FROM pg_attribute WHERE attrelid = 'notes'::regclass AND attname = 'text_key'"
    assert query(fresh_database, not_null) == [(True,)]
    index = "SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_notes_text_key'::regclass"
    assert query(fresh_database, index) == [(True,)]
    keys = "SELECT count(*) FROM notes WHERE text_key = lower(text)"
    assert query(fresh_database, keys) == [(3002,)]
