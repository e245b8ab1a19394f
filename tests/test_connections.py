"""The start-up step's connection budget against the server's limits, and
MIGRATION_DATABASE_URL for everything that needs a real session."""

import socket
from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.database import database_env, database_url, query, server
from harness.revisions import PROBE_REVISION, write_probe_revision
from harness.startup import assert_one_line_error, startup
from web.base.revisions import code_revisions

pytestmark = pytest.mark.usefixtures("test_database")


def test_startup_says_when_the_budget_does_not_fit(test_database: str) -> None:
    result = startup(MIGRATE_ON_START="false", WEB_CONCURRENCY="33", GUNICORN_THREADS="4")
    assert result.returncode == 0, result.stderr
    max_connections = query(test_database, "SHOW max_connections")[0][0]
    assert "warning: the connection budget does not fit" in result.stderr
    assert "may open 264 connections" in result.stderr
    assert f"max_connections {max_connections}" in result.stderr


def test_startup_refuses_an_over_budget_replica_when_asked_to(test_database: str) -> None:
    result = startup(WEB_CONCURRENCY="33", GUNICORN_THREADS="4", DB_BUDGET_STRICT="true")
    assert_one_line_error(result, "connection budget does not fit", "DB_BUDGET_STRICT")


def test_startup_within_budget_says_so(test_database: str) -> None:
    result = startup(MIGRATE_ON_START="false", WEB_CONCURRENCY="2", DB_BUDGET_STRICT="true")
    assert result.returncode == 0, result.stderr
    assert "connections: this replica may open 16 connections" in result.stderr


def through_another_host(database: str) -> str:
    """A URL of `database` on the test server by its IP address: to the start-up step, a
    host other than the MIGRATION_DATABASE_URL's, as PgBouncer's would be."""
    return f"postgresql://{server().user}@{socket.gethostbyname(server().host)}:{server().port}/{database}"


def test_startup_and_migrations_use_the_migration_url(fresh_database: str, app_copy: Path) -> None:
    """Requests through a pooler: start-up migrates on PostgreSQL itself, sets the requests'
    role's timeouts there, and leaves the pooler's budget to the pooler."""
    head = next(iter(code_revisions()[1]), None)
    write_probe_revision(app_copy / "migrations" / "versions", head)
    result = run_in(
        app_copy,
        *("python", "-m", "web.container.startup"),
        database=fresh_database,
        DATABASE_URL=through_another_host(fresh_database),
        MIGRATION_DATABASE_URL=database_env(fresh_database)["MIGRATION_DATABASE_URL"],
        WEB_CONCURRENCY="33",
        DB_BUDGET_STRICT="true",
        DB_STATEMENT_TIMEOUT_MS="1234",
        DB_IDLE_IN_TRANSACTION_TIMEOUT_MS="5678",
    )
    assert result.returncode == 0, result.stderr
    assert "(a pooler); the server sees the pooler's pool" in result.stderr
    assert query(fresh_database, "SELECT version_num FROM alembic_version") == [(PROBE_REVISION,)]
    # The timeouts PgBouncer cannot pass on are the runtime role's defaults in this database.
    defaults = query(
        fresh_database,
        "SELECT setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
        " WHERE d.datname = current_database() AND s.setrole = %s::regrole",
        server().user,
    )
    assert defaults == [
        (["idle_in_transaction_session_timeout=5678ms", "statement_timeout=1234ms"],)
    ]


def test_startup_checks_the_requests_way_in_too(test_database: str) -> None:
    """A DATABASE_URL other than MIGRATION_DATABASE_URL is tried too: a wrong database in
    it, or the pooler away, stops start-up, though PostgreSQL itself answers."""
    direct = {
        "MIGRATION_DATABASE_URL": database_env(test_database)["MIGRATION_DATABASE_URL"],
        "MIGRATION_DATABASE_URL_FILE": "",
    }
    for url in (through_another_host("no_such_database"), database_url("no_such_database")):
        wrong = startup(DATABASE_URL=url, **direct)
        assert_one_line_error(wrong, 'database "no_such_database" does not exist')
    # The requests' role, on a port where nothing listens.
    unreachable = f"postgresql://{server().user}@127.0.0.1:1/{test_database}"
    away = startup(DATABASE_URL=unreachable, DB_WAIT_TIMEOUT="2", **direct)
    assert_one_line_error(away, "127.0.0.1:1 not reachable after 2s (DB_WAIT_TIMEOUT)")
