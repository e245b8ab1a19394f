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
    direct = engine_options(settings(DB_STATEMENT_TIMEOUT_MS="700"))["connect_args"]
    assert direct["options"] == "-c statement_timeout=700"
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
