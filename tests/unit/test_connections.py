"""The connection budget's arithmetic, and the pools and URLs it counts."""

from harness.startup import settings
from web.app.db import engine_options
from web.container.connections import Budget


def test_pools_are_sized_from_the_threads_with_no_overflow() -> None:
    options = engine_options(settings(GUNICORN_THREADS="6", DB_POOL_TIMEOUT="2"))
    assert (options["pool_size"], options["max_overflow"], options["pool_timeout"]) == (6, 0, 2)
    assert engine_options(settings(DB_POOL_SIZE="3"))["pool_size"] == 3


def test_no_startup_option_through_a_pooler() -> None:
    """PgBouncer refuses `options` it cannot restore per client; the role default stands in."""
    direct = engine_options(
        settings(DB_STATEMENT_TIMEOUT_MS="700", DB_IDLE_IN_TRANSACTION_TIMEOUT_MS="900")
    )["connect_args"]
    assert (
        direct["options"] == "-c statement_timeout=700 -c idle_in_transaction_session_timeout=900"
    )
    pooled = settings(
        DATABASE_URL="postgresql://app@pgbouncer:6432/app",
        MIGRATION_DATABASE_URL="postgresql://app@db:5432/app",
    )
    assert "options" not in engine_options(pooled)["connect_args"]


def test_migration_url_defaults_to_the_database_url_and_shares_its_password() -> None:
    loaded = settings()
    assert loaded.migration_database == loaded.database
    assert not loaded.through_pooler
    split = settings(
        DATABASE_URL="postgresql://app@pgbouncer:6432/app",
        MIGRATION_DATABASE_URL="postgresql://app@db:5432/app",
        DATABASE_PASSWORD="pw",
    )
    assert (split.migration_database.host, split.migration_database.password) == ("db", "pw")
    assert split.through_pooler


def test_the_owner_has_a_password_of_its_own() -> None:
    """Migrations log in as the owner with MIGRATION_DATABASE_PASSWORD; when there is no
    MIGRATION_DATABASE_URL, there is one role, and one password."""
    roles = settings(
        DATABASE_URL="postgresql://app_runtime@pgbouncer:6432/app",
        MIGRATION_DATABASE_URL="postgresql://app_owner@db:5432/app",
        DATABASE_PASSWORD="runtime-pw",
        MIGRATION_DATABASE_PASSWORD="owner-pw",
    )
    assert (roles.database.password, roles.migration_database.password) == (
        "runtime-pw",
        "owner-pw",
    )
    one = settings(DATABASE_PASSWORD="runtime-pw", MIGRATION_DATABASE_PASSWORD="owner-pw")
    assert one.migration_database.password == "runtime-pw"


def test_the_budget_of_a_16_cpu_host() -> None:
    budget = Budget(
        max_connections=100, server_reserved=3, reserved=5, replicas=1, per_worker=8, workers=33
    )
    assert (budget.per_replica, budget.share, budget.fits) == (264, 92, False)
    assert "may open 264 connections (WEB_CONCURRENCY 33 x 2 pools x DB_POOL_SIZE 4)" in (
        budget.describe()
    )
    three = Budget(100, 3, 5, replicas=3, per_worker=8, workers=3)
    assert (three.per_replica, three.share, three.fits) == (24, 30, True)
