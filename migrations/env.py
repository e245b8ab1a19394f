"""Alembic's environment: the database and the metadata come from the Flask app.

Online upgrades hold a PostgreSQL advisory lock, so that replicas starting together migrate
one at a time; session-level, because a migration may leave its transaction (an
`autocommit_block()` for CREATE INDEX CONCURRENTLY) and must still hold it.
"""

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from logging.config import fileConfig

import alembic_postgresql_enum  # noqa: F401 (on import, autogenerate compares enums' values)
from alembic import context
from alembic.autogenerate import renderers
from alembic.util import to_tuple
from alembic_postgresql_enum.operations.add_enum_values import AddEnumValuesOp
from sqlalchemy import Connection, text

from web.app import create_app
from web.app.db import db, drop_invalid_indexes, migration_engine
from web.base.config import ConfigError
from web.base.logs import configure as configure_logging
from web.base.revisions import BACKFILL_CHECKPOINTS, MIGRATION_LOCK_KEY, REVISION_GRAPH
from web.base.roles import grants, runtime_role

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

try:
    app = create_app()
except ConfigError as exc:
    raise SystemExit(f"error: {exc}") from None
settings = app.config["SETTINGS"]
# alembic.ini's loggers and levels, in the lines LOG_FORMAT asks for (JSON in the image).
configure_logging(settings.log_format)
# PostgreSQL itself (MIGRATION_DATABASE_URL), never PgBouncer: in transaction pooling, the
# session-level advisory lock and the SETs below would not stay on one server connection.
engine = migration_engine(settings)


def skip_empty_revision(context, revision, directives) -> None:
    """`alembic revision --autogenerate` with no model change writes nothing."""
    if getattr(config.cmd_opts, "autogenerate", False) and directives[0].upgrade_ops.is_empty():
        directives[:] = []
        print("No changes in the models; no revision written.")


@renderers.dispatch_for(AddEnumValuesOp, replace=True)
def add_enum_values(autogen_context, op: AddEnumValuesOp) -> list[str]:
    """An enum gaining values, as plain SQL in the revision: ALTER TYPE ... ADD VALUE changes
    the type only, never rewrites a table. (The library's own op.add_enum_value puts a value
    inserted in the middle AFTER its neighbour, not BEFORE.) In an autocommit block: a value
    cannot be used in the transaction that adds it. IF NOT EXISTS: the block commits on its
    own, so a rerun of a revision that failed later on finds the value there."""
    quote = autogen_context.dialect.identifier_preparer.quote
    enum = f"{quote(op.schema)}.{quote(op.name)}"
    lines = ["with op.get_context().autocommit_block():"]
    for index, value in enumerate(op.new_values):
        if value not in op.old_values:
            sql = f"ALTER TYPE {enum} ADD VALUE IF NOT EXISTS {literal(value)}"
            # Before the first existing value that follows it in the model; else at the end.
            anchor = next((v for v in op.new_values[index + 1 :] if v in op.old_values), None)
            if anchor is not None:
                sql += f" BEFORE {literal(anchor)}"
            lines.append(f"    op.execute({sql!r})")
    return [*lines, ""]  # the empty line ends the block


def literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """Autogenerate leaves alone the tables of `make backfill` and of the revision graph."""
    return not (type_ == "table" and name in (BACKFILL_CHECKPOINTS, REVISION_GRAPH))


COMMON = {
    "target_metadata": db.metadata,
    "compare_type": True,
    "compare_server_default": True,
    # Each revision commits on its own: a failure leaves the database at the last good one.
    "transaction_per_migration": True,
    "process_revision_directives": skip_empty_revision,
    "include_name": include_name,
}


# Migration statements: a lock they would queue for fails after MIGRATION_LOCK_TIMEOUT_MS
# instead of stalling live traffic behind it; their own run time is not limited (the
# app's statement_timeout would cut off a long CREATE INDEX CONCURRENTLY).
SESSION_SETTINGS = (
    f"SET lock_timeout = '{settings.migration_lock_timeout_ms}ms'",
    "SET statement_timeout = 0",
)


@contextmanager
def migration_lock(connection: Connection, own: bool) -> Iterator[None]:
    """Hold the advisory lock, waiting at most MIGRATION_LOCK_WAIT_MS for it.

    On our own connection the wait polls in autocommit: a waiter in an open transaction
    and the holder's CREATE INDEX CONCURRENTLY would wait for each other. A caller's
    transaction, if any, is the caller's: everything runs in it.
    """
    if own:
        connection.execution_options(isolation_level="AUTOCOMMIT")
    ours = not connection.in_transaction()  # a transaction begun here is ours to end
    try_lock = text("SELECT pg_try_advisory_lock(:key)")
    started = time.monotonic()
    deadline = started + settings.migration_lock_wait_ms / 1000
    while not connection.scalar(try_lock, {"key": MIGRATION_LOCK_KEY}):
        if time.monotonic() > deadline:
            raise SystemExit(
                f"error: another migration held the lock for over "
                f"{settings.migration_lock_wait_ms} ms (MIGRATION_LOCK_WAIT_MS)"
            )
        time.sleep(0.2)
    # For the start-up step's record (web/container/startup.py), shown on /metrics.
    config.attributes["lock_wait_seconds"] = time.monotonic() - started
    for statement in SESSION_SETTINGS:
        connection.execute(text(statement))
    if ours:
        connection.commit()  # in autocommit, this only ends SQLAlchemy's transaction object
    if own:
        connection.execution_options(isolation_level=connection.default_isolation_level)
    try:
        yield
    except BaseException:
        if ours:
            connection.rollback()
            unlock(connection, ours)
        raise  # else: the caller rolls its transaction back; the lock ends with the session
    unlock(connection, ours)


def unlock(connection: Connection, ours: bool) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    if ours:
        connection.commit()


def run_migrations_offline() -> None:
    """`alembic upgrade --sql`: print the SQL for review, touch no database."""
    context.configure(url=engine.url, literal_binds=True, **COMMON)
    for statement in SESSION_SETTINGS:
        context.execute(statement)
    with context.begin_transaction():
        context.run_migrations()


def record_revision_graph(connection: Connection) -> None:
    """Add this code's revision edges to REVISION_GRAPH (web/base/revisions.py), before any
    revision is applied: an older release started on the result knows it is behind it."""
    connection.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {REVISION_GRAPH} (revision varchar(32) NOT NULL, "
            "down_revision varchar(32) NOT NULL, PRIMARY KEY (revision, down_revision))"
        )
    )
    edges = [
        {"revision": script.revision, "down": down}
        for script in context.script.walk_revisions()
        for down in to_tuple(script.down_revision, default=())
    ]
    if edges:
        connection.execute(
            text(
                f"INSERT INTO {REVISION_GRAPH} VALUES (:revision, :down) ON CONFLICT DO NOTHING"  # noqa: S608 (a constant)
            ),
            edges,
        )


def drop_leftover_indexes(connection: Connection, own: bool) -> None:
    """A CREATE INDEX CONCURRENTLY cut off half way (a stop, a lost node) left an INVALID index
    under its name: dropped before migrating, so the revision builds it again."""
    if own:
        connection.execution_options(isolation_level="AUTOCOMMIT")
    try:
        for name in drop_invalid_indexes(connection, concurrently=own):
            logging.getLogger("alembic.env").info(
                "dropped the invalid index %s (a build cut off)", name
            )
    finally:
        if own:
            connection.commit()  # ends SQLAlchemy's transaction object, as in migration_lock
            connection.execution_options(isolation_level=connection.default_isolation_level)


def run_migrations(connection: Connection, own: bool) -> None:
    with migration_lock(connection, own):
        began = not connection.in_transaction()  # else the caller's transaction holds it all
        drop_leftover_indexes(connection, own)
        record_revision_graph(connection)
        if began:
            connection.commit()
        context.configure(connection=connection, **COMMON)
        with context.begin_transaction():
            context.run_migrations()
        grant_to_runtime(connection, own)


def grant_to_runtime(connection: Connection, own: bool) -> None:
    """When requests log in as a role of their own (DATABASE_URL's user), give it what
    web/base/roles.py says, as the owner, still under the lock."""
    runtime = runtime_role(settings)
    if runtime is None:
        return
    database = connection.scalar(text("SELECT current_database()"))
    for statement in grants(database, runtime):
        connection.execute(text(statement))
    if own:
        connection.commit()


def run_migrations_online() -> None:
    """Migrate on the caller's connection when given one (Alembic's connection-sharing
    recipe, `config.attributes["connection"]`), inside its transaction, where no
    `autocommit_block()` can run; else on a connection of our own engine."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_migrations(given, own=False)
        return
    # An engine may be given instead (pytest-alembic does): a connection of it is ours.
    with (given or engine).connect() as connection:
        run_migrations(connection, own=True)


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
