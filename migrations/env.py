"""Alembic's environment: the database and the metadata come from the Flask app.

Online upgrades hold a session-level PostgreSQL advisory lock, so that
replicas starting together migrate one at a time. Session-level (not
transaction-level) because a migration may leave its transaction, as
`op.get_context().autocommit_block()` does for CREATE INDEX CONCURRENTLY,
and the lock must still be held then.
"""

from contextlib import contextmanager
from logging.config import fileConfig

from alembic import context
from sqlalchemy import text

from web.app import create_app
from web.config import ConfigError
from web.extensions import db
from web.schema_version import MIGRATION_LOCK_KEY

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None
settings = app.config["SETTINGS"]
with app.app_context():
    engine = db.engine


def skip_empty_revision(context, revision, directives) -> None:
    """`alembic revision --autogenerate` with no model change writes nothing."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        print("No changes in the models; no revision written.")


COMMON = {
    "target_metadata": db.metadata,
    "compare_type": True,
    "compare_server_default": True,
    # Each revision commits on its own: a failure leaves the database at the last good one.
    "transaction_per_migration": True,
    "process_revision_directives": skip_empty_revision,
}


@contextmanager
def migration_lock(connection):
    """Hold the advisory lock; bound the wait for it and every lock a migration takes."""
    set_timeout = text("SELECT set_config('lock_timeout', :ms || 'ms', false)")
    connection.execute(set_timeout, {"ms": settings.migration_lock_wait_ms})
    connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
    connection.execute(set_timeout, {"ms": settings.migration_lock_timeout_ms})
    connection.commit()
    try:
        yield
    finally:
        connection.rollback()
        connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
        connection.commit()


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL for review, touch no database."""
    context.configure(url=engine.url, literal_binds=True, **COMMON)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    with engine.connect() as connection, migration_lock(connection):
        context.configure(connection=connection, **COMMON)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
