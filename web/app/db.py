"""The database: the Flask-SQLAlchemy object (unbound, so that models can import it), the
app's engine options, and the one engine for migrations and operator tools."""

from typing import Any

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import URL, Connection, Engine, MetaData, NullPool, create_engine, text

from web.base.config import DatabaseURL, Settings

# Named constraints make migrations reviewable and let a later migration drop
# or alter a constraint by a name known in advance.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Every model's table; named here, so that a check can find it (pytest-alembic's).
metadata = MetaData(naming_convention=NAMING_CONVENTION)

# Objects stay loaded after commit: the API renders them right after, and
# re-reading every committed row would cost a query per write.
db = SQLAlchemy(metadata=metadata, session_options={"expire_on_commit": False})


def database_uri(settings: Settings) -> URL:
    """Where the app's requests connect (DATABASE_URL: PgBouncer in the shipped stacks)."""
    return _uri(settings.database)


def migration_uri(settings: Settings) -> URL:
    """Where migrations connect (MIGRATION_DATABASE_URL: PostgreSQL itself, for the advisory
    lock and the session SETs, which a pooler in transaction mode would not keep)."""
    return _uri(settings.migration_database)


def migration_engine(settings: Settings, **connect_args: Any) -> Engine:
    """An engine on MIGRATION_DATABASE_URL, one connection per use (no pool): migrations,
    backfills and rehearsals hold session state (the advisory lock, SETs)."""
    return create_engine(
        migration_uri(settings),
        poolclass=NullPool,
        connect_args={**settings.connect_args(), **connect_args},
    )


def _uri(url: DatabaseURL) -> URL:
    # URL.create takes the password as it is: no escaping, so `%` or `@` in it is safe.
    return URL.create(
        "postgresql+psycopg2",
        username=url.user,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.dbname,
        query=url.options,
    )


def engine_options(settings: Settings) -> dict[str, Any]:
    """Options of both of a worker's engines (writes, and the autocommit reads bind): at
    most DB_POOL_SIZE connections each, no overflow, so the connection budget is known in
    advance (web/container/connections.py); an empty pool makes a request wait
    DB_POOL_TIMEOUT seconds, then answer 503."""
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": 0,
        "pool_timeout": settings.db_pool_timeout,
        # A connection that died with a database restart is replaced before a write uses
        # it (one extra round trip). Reads skip this and retry instead (web/app/reads.py).
        "pool_pre_ping": True,
        "connect_args": {**settings.connect_args(), **statement_timeout_option(settings)},
    }


def statement_timeout_option(settings: Settings) -> dict[str, str]:
    """DB_STATEMENT_TIMEOUT_MS and DB_IDLE_IN_TRANSACTION_TIMEOUT_MS as startup options, when
    connecting to PostgreSQL itself. PgBouncer refuses a startup option it cannot restore per
    client: there, the start-up step makes them the role's defaults in the database
    (web/container/startup.py)."""
    if settings.through_pooler:
        return {}
    return {
        "options": f"-c statement_timeout={settings.db_statement_timeout_ms}"
        f" -c idle_in_transaction_session_timeout={settings.db_idle_in_transaction_timeout_ms}"
    }


def drop_invalid_indexes(connection: Connection, concurrently: bool) -> list[str]:
    """Drop the INVALID indexes that a CREATE INDEX CONCURRENTLY cut off half way left behind,
    so that its migration can build them again; never one being built right now, by anyone
    (pg_stat_progress_create_index, or, for another role's, its table's lock in pg_locks). For migration environments, under their advisory lock.

    `concurrently` (the connection must be in autocommit) keeps the table's reads and writes
    going; else a plain DROP INDEX, in the caller's transaction. Returns the names dropped.
    """
    names = connection.scalars(
        text(
            "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_index i "
            "JOIN pg_class c ON c.oid = i.indexrelid "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE NOT i.indisvalid AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
            "AND n.nspname NOT LIKE 'pg\\_toast%' AND NOT EXISTS (SELECT FROM "
            "pg_stat_progress_create_index p WHERE p.index_relid = i.indexrelid) "
            # Another role's build is not in that view for us; its table lock is in pg_locks.
            "AND NOT EXISTS (SELECT FROM pg_locks l WHERE l.relation = i.indrelid AND "
            "l.mode = 'ShareUpdateExclusiveLock' AND l.granted AND l.pid <> pg_backend_pid())"
        )
    ).all()
    for name in names:
        how = "CONCURRENTLY " if concurrently else ""
        connection.execute(text(f"DROP INDEX {how}IF EXISTS {name}"))
    return list(names)
