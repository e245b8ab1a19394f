"""Alembic's environment, for both kinds of revision: the database and the metadata come from
the Flask app.

Deploy-time revisions (alembic.ini's [alembic] section, migrations/versions/) run on start,
`alembic upgrade head`. Post-deploy revisions (its [post] section, `alembic -n post ...`,
migrations/post_deploy/, version table alembic_version_post) run after the rollout; each
names the deploy-time revision it needs (needs_deploy_revision), and runs only on a
database that has it.

Online runs hold a session-level PostgreSQL advisory lock, one for both kinds, so that
replicas starting together, and a post-deploy run, migrate one at a time. Session-level (not
transaction-level) because a migration may leave its transaction, as
`op.get_context().autocommit_block()` does for CREATE INDEX CONCURRENTLY, and the lock must
still be held then.
"""

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
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
from web.base.paths import VERSIONS_DIR
from web.base.quoting import literal
from web.base.revisions import (
    BACKFILL_CHECKPOINTS,
    MIGRATION_LOCK_KEY,
    NEEDS,
    POST_SECTION,
    POST_VERSION_TABLE,
    REVISION_GRAPH,
    VERSION_TABLE,
    applied,
    code_graph,
    database_revisions,
)
from web.base.roles import grants, runtime_role

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

POST = config.config_ini_section == POST_SECTION
KIND = "post-deploy" if POST else "deploy-time"
logger = logging.getLogger("alembic.env")

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
# How often a long revision's progress is logged.
PROGRESS_SECONDS = 10


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


# Tables autogenerate leaves alone: both environments' version tables (Alembic skips only
# its own), the one `make backfill` keeps its checkpoints in, and the revision graph.
NOT_MODELS = {VERSION_TABLE, POST_VERSION_TABLE, BACKFILL_CHECKPOINTS, REVISION_GRAPH}


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    return not (type_ == "table" and name in NOT_MODELS)


class Clock:
    """When the last revision ended (or the run began), and whether the start-up step's
    deadline has passed (config.attributes["deadline"], a time.monotonic() value set by
    web/container/startup.py)."""

    def __init__(self) -> None:
        self.last = time.monotonic()

    def overran(self) -> bool:
        deadline = config.attributes.get("deadline")
        return deadline is not None and time.monotonic() > deadline


clock = Clock()


def on_applied(ctx, step, heads, run_args) -> None:
    """Each revision, logged with its time, inside its own transaction: past the start-up
    step's deadline, the one that just ran is rolled back and the run stops here."""
    now = time.monotonic()
    way = "upgrade" if step.is_upgrade else "downgrade"
    logger.info("%s %s %s done in %.1f s", KIND, way, step.up_revision_id, now - clock.last)
    clock.last = now
    if clock.overran():
        raise SystemExit(f"error: past the deadline after {step.up_revision_id}")


COMMON = {
    "target_metadata": db.metadata,
    "compare_type": True,
    "compare_server_default": True,
    # Each revision commits on its own: a failure leaves the database at the last good one.
    "transaction_per_migration": True,
    "process_revision_directives": skip_empty_revision,
    "include_name": include_name,
    "version_table": POST_VERSION_TABLE if POST else VERSION_TABLE,
    "on_version_apply": on_applied,
}


# Migration statements: a lock they would queue for fails after MIGRATION_LOCK_TIMEOUT_MS
# instead of stalling live traffic behind it; their own run time is not limited (the
# app's statement_timeout would cut off a long CREATE INDEX CONCURRENTLY).
SESSION_SETTINGS = (
    f"SET lock_timeout = '{settings.migration_lock_timeout_ms}ms'",
    "SET statement_timeout = 0",
)


def drop_leftover_indexes(connection: Connection, own: bool) -> None:
    """A CREATE INDEX CONCURRENTLY cut off half way (a stop, a lost node, the deadline) left
    an INVALID index under its name: dropped, so that its revision builds it again. On our
    own connection, waiting at most DROP_LOCK_TIMEOUT for the table's other transactions,
    so that a stop or a failed start never waits on them: the next run drops what is left."""
    level = connection.default_isolation_level
    try:
        if own:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(text(f"SET lock_timeout = '{DROP_LOCK_TIMEOUT}'"))
        for name in drop_invalid_indexes(connection, concurrently=own):
            logger.info("dropped the invalid index %s (a build cut off)", name)
    except Exception as exc:  # the next run tries again
        logger.warning("could not drop INVALID indexes: %s", str(exc).splitlines()[0])
    finally:
        if own:
            with suppress(Exception):  # a connection lost is the caller's to report
                connection.execute(text(SESSION_SETTINGS[0]))  # the migration's lock_timeout
                connection.commit()  # ends SQLAlchemy's transaction object, as in migration_lock
            connection.execution_options(isolation_level=level)


DROP_LOCK_TIMEOUT = "1s"


@contextmanager
def progress(pid: int) -> Iterator[None]:
    """Every PROGRESS_SECONDS, log what the migration's session is doing (and how far an
    index build has got), from a connection of its own."""
    stop = threading.Event()

    def report() -> None:
        while not stop.wait(PROGRESS_SECONDS):
            try:
                with engine.connect() as watcher:
                    row = watcher.execute(text(PROGRESS), {"pid": pid}).first()
            except Exception as exc:  # a report, never a reason to stop
                logger.info("progress unavailable: %s", str(exc).splitlines()[0])
                continue
            if row is not None:
                logger.info("%s migration running for %.0f s: %s", KIND, *describe(row))

    thread = threading.Thread(target=report, name="migration-progress", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=5)


PROGRESS = """
SELECT extract(epoch FROM now() - a.query_start), left(a.query, 100), a.wait_event_type,
       p.phase, p.blocks_done, p.blocks_total
FROM pg_stat_activity a LEFT JOIN pg_stat_progress_create_index p ON p.pid = a.pid
WHERE a.pid = :pid AND a.state = 'active'
"""


def describe(row) -> tuple[float, str]:
    seconds, query, waiting, phase, done, total = row
    what = " ".join(query.split())
    if waiting == "Lock":
        what += " (waiting for a lock)"
    if phase:
        what += f"; {phase}" + (f", {100 * done / total:.0f}% of blocks" if total else "")
    return seconds, what


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
        if clock.overran():
            raise SystemExit("error: another migration held the lock past the deadline")
        if time.monotonic() > deadline:
            raise SystemExit(
                f"error: another migration held the lock for over "
                f"{settings.migration_lock_wait_ms} ms (MIGRATION_LOCK_WAIT_MS)"
            )
        time.sleep(0.2)
    # For the start-up step: how long it waited (shown on /metrics), and which session to
    # cancel if the migration runs past its deadline.
    config.attributes["lock_wait_seconds"] = time.monotonic() - started
    config.attributes["migration_pid"] = connection.scalar(text("SELECT pg_backend_pid()"))
    for statement in SESSION_SETTINGS:
        connection.execute(text(statement))
    if ours:
        connection.commit()  # in autocommit, this only ends SQLAlchemy's transaction object
    if own:
        drop_leftover_indexes(connection, own)
    config.attributes["migrating"] = True
    clock.last = time.monotonic()
    try:
        yield
    except BaseException:
        config.attributes["migrating"] = False
        if ours:
            connection.rollback()
            if own:
                drop_leftover_indexes(connection, own)
            unlock(connection, ours)
        raise  # else: the caller rolls its transaction back; the lock ends with the session
    config.attributes["migrating"] = False
    unlock(connection, ours)


def unlock(connection: Connection, ours: bool) -> None:
    connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
    if ours:
        connection.commit()


def check_needs(connection: Connection, own: bool) -> None:
    """Refuse to upgrade past a post-deploy revision whose deploy-time revision the database
    lacks: it would remove what the code still serving may need."""
    fn = context.get_context().opts.get("fn")
    if not POST or getattr(fn, "__name__", "") != "upgrade":
        return
    script = context.script
    graph = {rev.revision: to_tuple(rev.down_revision, ()) for rev in script.walk_revisions()}
    try:
        target = [rev.revision for rev in script.get_revisions(context.get_revision_argument())]
    except Exception:  # a relative target ("+1"): check every revision not applied
        target = list(graph)
    current = context.get_context().get_current_heads()
    deploy_graph = code_graph(VERSIONS_DIR)
    deployed = database_revisions(lambda sql: connection.exec_driver_sql(sql).fetchall())
    if own and connection.in_transaction():
        connection.commit()  # the reads above began one; each revision begins its own
    unknown = [revision for revision in deployed if revision not in deploy_graph]
    has = applied(deploy_graph, deployed)
    for revision in sorted(applied(graph, tuple(target)) - applied(graph, current)):
        needs = getattr(script.get_revision(revision).module, NEEDS, None)
        if needs and (unknown or needs not in has):
            at = ", ".join(deployed) or "none"
            raise SystemExit(
                f"error: post-deploy revision {revision} needs deploy-time revision {needs}, "
                f"which the database does not have (it is at {at}); deploy it first"
            )


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


def run_migrations(connection: Connection, own: bool) -> None:
    with migration_lock(connection, own):
        began = not connection.in_transaction()  # else the caller's transaction holds it all
        if not own:
            drop_leftover_indexes(connection, own)
        if not POST:  # the graph is of deploy-time revisions
            record_revision_graph(connection)
        if began:
            connection.commit()
        context.configure(connection=connection, **COMMON)
        check_needs(connection, own)
        pid = config.attributes["migration_pid"]
        with progress(pid) if own else nullcontext(), context.begin_transaction():
            context.run_migrations()
        grant_to_runtime(connection, own)


def run_migrations_online() -> None:
    """Migrate on the caller's connection when given one (Alembic's connection-sharing
    recipe, `config.attributes["connection"]`), inside its transaction, where no
    `autocommit_block()` can run; else on a connection of our own engine."""
    given = config.attributes.get("connection")
    if isinstance(given, Connection):
        run_migrations(given, own=False)
        return
    # An engine may be given instead (pytest-alembic does). A connection it hands out is
    # ours, unless it is already in a transaction: then it is the caller's, as above
    # (pytest-alembic's experimental tests wrap their open connection this way).
    with (given or engine).connect() as connection:
        run_migrations(connection, own=not connection.in_transaction())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
