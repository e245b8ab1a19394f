"""Run by entrypoint.sh before the server: wait for the database, bring it to the code's head,
then exec the server (its arguments) in this process, so that no shell stays between Docker
and gunicorn.

On PostgreSQL itself (MIGRATION_DATABASE_URL): check the connection budget, then, for a
database already at head (the common case), read alembic_version over a bare psycopg2
connection, without Flask, SQLAlchemy or Alembic; only with work to do does it run Alembic.
A database ahead (a newer release migrated it: a rollback) is served without migrating;
one on another branch is refused. SIGTERM cancels the running statement (psycopg2's
wait_select), so a migration cut off rolls back, frees its locks and exits at once.
Every failure is one line on stderr (LOG_FORMAT) and a non-zero exit: the container stops
rather than serve the wrong schema. What the step took goes to STARTUP_RECORD, for /metrics.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from web.base.config import ConfigError, DatabaseURL, Settings, load_settings
from web.base.logs import STARTUP_LOGGER, configure
from web.base.paths import ALEMBIC_INI
from web.base.revisions import AHEAD, AT_HEAD, ELSEWHERE, code_revisions, standing
from web.base.roles import missing, runtime_role
from web.container import connections

# Read by the metrics server in the same container; a container has one start-up step.
STARTUP_RECORD = Path(tempfile.gettempdir()) / "startup.json"
logger = logging.getLogger(STARTUP_LOGGER)
# Its own level: alembic.ini (loaded when migrating) sets the root's to WARNING.
logger.setLevel(logging.INFO)

# Errors that waiting will not cure.
FATAL_CONNECT_ERRORS = (
    "authentication failed",  # PostgreSQL's "password ...", PgBouncer's "SASL ..."
    "does not exist",
    "no pg_hba.conf entry",
    "no such user",  # PgBouncer, for a user it does not know
)


class StartupError(Exception):
    pass


class Stopped(KeyboardInterrupt):
    """SIGTERM arrived. A KeyboardInterrupt, because psycopg2's wait_select answers one by
    cancelling the statement in progress."""


def stop(signum: int, frame: object) -> None:
    global stopping  # noqa: PLW0603 (one start-up step per process)
    stopping = True
    raise Stopped


stopping = False


def stop_promptly() -> None:
    """On SIGTERM, raise Stopped; blocking queries wait in Python, where it can reach them."""
    import psycopg2.extensions
    import psycopg2.extras

    signal.signal(signal.SIGTERM, stop)
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)


def log(message: str) -> None:
    logger.info(message)


def first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__


def wait_for_database(settings: Settings, db: DatabaseURL) -> Any:
    """A psycopg2 connection to `db` that has answered a query (through PgBouncer, only a
    query reaches the server); give up after DB_WAIT_TIMEOUT."""
    import psycopg2

    kwargs = {**settings.connect_args(), **db.connect_kwargs()}
    deadline = time.monotonic() + settings.db_wait_timeout
    waiting = False
    while True:
        try:
            connection = psycopg2.connect(**kwargs)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT 1")
            except psycopg2.Error:
                connection.close()
                raise
            connection.rollback()  # leave no transaction open
            return connection
        except psycopg2.OperationalError as exc:
            if stopping:  # SIGTERM while connecting: wait_select's cancel has nothing to cancel
                raise Stopped from None
            reason = first_line(exc)
            if any(fatal in reason for fatal in FATAL_CONNECT_ERRORS):
                raise StartupError(f"cannot use database {db.redacted()}: {reason}") from None
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise StartupError(
                    f"database {db.host}:{db.port} not reachable after "
                    f"{settings.db_wait_timeout}s (DB_WAIT_TIMEOUT): {reason}"
                ) from None
            if not waiting:
                log(f"waiting up to {settings.db_wait_timeout}s for {db.host}:{db.port}: {reason}")
                waiting = True
            time.sleep(min(1.0, remaining))


def query_on(connection: Any) -> Any:
    """SQL -> rows, on a psycopg2 connection."""

    def query(sql: str) -> list[tuple]:
        with connection.cursor() as cursor:
            cursor.execute(sql)
            return cursor.fetchall()

    return query


def check_budget(settings: Settings, connection: Any) -> None:
    """Say what this replica may open against what the server allows; with
    DB_BUDGET_STRICT, refuse to start when it does not fit."""
    if settings.through_pooler:
        db = settings.database
        log(
            f"connections: requests go through {db.host}:{db.port} (a pooler); the server "
            "sees the pooler's pool, sized in its own settings, not this replica's pools"
        )
        return
    budget = connections.budget(settings, query_on(connection))
    if budget.fits:
        log(f"connections: {budget.describe()}")
        return
    message = (
        f"the connection budget does not fit: {budget.describe()}. Lower WEB_CONCURRENCY or "
        "DB_POOL_SIZE, raise max_connections, or put PgBouncer in front (docs/architecture.md: Connections)"
    )
    if settings.db_budget_strict:
        raise StartupError(f"{message}; refusing to start (DB_BUDGET_STRICT)")
    log(f"warning: {message}")


def set_role_timeouts(settings: Settings) -> None:
    """Make DB_STATEMENT_TIMEOUT_MS and DB_IDLE_IN_TRANSACTION_TIMEOUT_MS the defaults of the
    role requests log in as, in its database, when it is a role of its own or requests go
    through PgBouncer (which cannot pass the app's options on: web/app/db.py). As that role,
    on PostgreSQL itself. Open server connections keep their values until PgBouncer replaces
    them; migrations log in as the owner and SET their own (migrations/env.py)."""
    if not (settings.through_pooler or runtime_role(settings)):
        return
    from psycopg2 import sql

    requests = settings.database
    direct = replace(
        settings.migration_database,
        user=requests.user,
        password=requests.password,
        dbname=requests.dbname,
    )
    connection = wait_for_database(settings, direct)

    wanted = {
        "idle_in_transaction_session_timeout": f"{settings.db_idle_in_transaction_timeout_ms}ms",
        "statement_timeout": f"{settings.db_statement_timeout_ms}ms",
    }
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_database(), (SELECT setconfig FROM pg_db_role_setting"
            " WHERE setrole = current_user::regrole AND setdatabase ="
            " (SELECT oid FROM pg_database WHERE datname = current_database()))"
        )
        database, current = cursor.fetchone()
        if sorted(current or []) != [f"{name}={value}" for name, value in wanted.items()]:
            for name, value in wanted.items():
                statement = sql.SQL("ALTER ROLE CURRENT_USER IN DATABASE {} SET {} = {}")
                cursor.execute(
                    statement.format(sql.Identifier(database), sql.SQL(name), sql.Literal(value))
                )
    connection.commit()
    connection.close()
    log(
        f"timeouts of the role requests log in as: statement {wanted['statement_timeout']}, "
        f"idle in transaction {wanted['idle_in_transaction_session_timeout']}"
    )


def grants_missing(settings: Settings, connection: Any) -> int:
    """How many of the runtime role's grants (web/base/roles.py) are missing; 0 with one role."""
    import psycopg2

    runtime = runtime_role(settings)
    if runtime is None:
        return 0
    try:
        return query_on(connection)(missing(runtime))[0][0]
    except psycopg2.Error as exc:  # the role does not exist, most likely
        raise StartupError(f"cannot check what {runtime} may do: {first_line(exc)}") from None


class Deadline:
    """MIGRATE_ON_START_TIMEOUT, so that an orchestrator's healthcheck never kills a migration
    at an arbitrary point: past it, migrations/env.py stops before the next revision (rolling
    back the one that just ran), and this cancels the statement running now, every second,
    until the run has rolled back, dropped any half-built index and released its lock. If
    nothing stops it within GRACE seconds (a revision busy in Python), the process exits."""

    GRACE = 15

    def __init__(self, settings: Settings, attributes: dict[str, Any]) -> None:
        self.settings = settings
        self.seconds = settings.migrate_on_start_timeout
        self.attributes = attributes
        self.passed = threading.Event()
        self.done = threading.Event()

    def __enter__(self) -> Deadline:
        if self.seconds:
            self.attributes["deadline"] = time.monotonic() + self.seconds
            threading.Thread(target=self.watch, name="migration-deadline", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()

    def watch(self) -> None:
        if self.done.wait(self.seconds):
            return
        self.passed.set()
        give_up = time.monotonic() + self.GRACE
        while self.attributes.get("migrating") and time.monotonic() < give_up:
            self.cancel(self.attributes.get("migration_pid"))
            if self.done.wait(1):
                return
        if not self.done.wait(max(0.0, give_up - time.monotonic())):
            logger.error("%s; it did not stop within %d s, exiting", self.reason(), self.GRACE)
            os._exit(1)

    def cancel(self, pid: int | None) -> None:
        import psycopg2

        if pid is None:
            return
        try:
            kwargs = {
                **self.settings.connect_args(),
                **self.settings.migration_database.connect_kwargs(),
            }
            with psycopg2.connect(**kwargs) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT pg_cancel_backend(%s)", (pid,))
            connection.close()
        except psycopg2.Error as exc:
            log(f"could not cancel the migration's statement: {first_line(exc)}")

    def reason(self) -> str:
        return f"deploy-time migrations ran over MIGRATE_ON_START_TIMEOUT ({self.seconds} s)"


def migrate(settings: Settings, connection: Any) -> tuple[str, float, bool]:
    """Bring the database to head, and the runtime role's grants with it (migrations/env.py
    gives them); (the revision it is at now, seconds waited for the lock, whether it is ahead
    of the code and served as it is)."""
    known, heads = code_revisions()
    if len(heads) > 1:
        raise StartupError(
            f"the migrations have {len(heads)} heads ({', '.join(heads)}); "
            "merge them with `alembic merge` before deploying"
        )
    current, state = standing(query_on(connection))
    to_grant = grants_missing(settings, connection) if state == AT_HEAD else 0
    connection.close()
    head = ", ".join(heads) or "none"
    if state == AT_HEAD and not to_grant:
        log(f"database is at head {', '.join(heads) or '(no migrations)'}; nothing to migrate")
        return ", ".join(heads), 0.0, False
    if state == AHEAD:
        log(
            f"database ahead, at {', '.join(current)}; this code's head is {head}; "
            "serving without migrating"
        )
        return ", ".join(current), 0.0, True
    if state == ELSEWHERE:
        unknown = [revision for revision in current if revision not in known]
        raise StartupError(
            f"database is at revision {', '.join(unknown)}, which this code does not know "
            f"(its head is {head}) and which is not recorded as descending from it; "
            "refusing to start, nothing was changed"
        )
    if state == AT_HEAD:
        log(f"granting {runtime_role(settings)} what requests need (web/base/roles.py)")
    else:
        log(f"migrating from {', '.join(current) or 'an empty database'} to {heads[0]}")
    from alembic import command
    from alembic.config import Config

    config = Config(str(ALEMBIC_INI))
    deadline = Deadline(settings, config.attributes)
    try:
        with deadline:
            command.upgrade(config, "head")
    except (SystemExit, Exception) as exc:
        # env.py's own one-line errors (the lock wait ran out) are SystemExit("error: ...").
        cause = (
            str(exc.code)
            if isinstance(exc, SystemExit)
            else f"{type(exc).__name__}: {first_line(exc)}"
        )
        if deadline.passed.is_set():
            raise StartupError(
                f"{deadline.reason()}: stopped ({cause.removeprefix('error: ')}); the database "
                "stays at its last complete revision, with no half-built index, and the lock is "
                "released. Make long work a post-deploy revision (docs/deploying.md)"
            ) from None
        if isinstance(exc, SystemExit):
            raise StartupError(cause.removeprefix("error: ")) from None
        raise StartupError(f"migration failed: {cause}") from None
    # migrations/env.py notes how long it waited for another replica's migration.
    return heads[0], config.attributes.get("lock_wait_seconds", 0.0), False


def record(started: float, revision: str, lock_wait: float, ahead: bool) -> None:
    """What this start-up took, for /metrics; written whole, then renamed into place."""
    facts = {
        "duration_seconds": time.monotonic() - started,
        "lock_wait_seconds": lock_wait,
        "revision": revision,
        "ahead": ahead,
    }
    partial = STARTUP_RECORD.with_suffix(".partial")
    partial.write_text(json.dumps(facts))
    partial.replace(STARTUP_RECORD)


def main(server: list[str]) -> int:
    """The start-up step, then `server` (a command: gunicorn ...) in this process, if given."""
    started = time.monotonic()
    try:
        settings = load_settings()
    except ConfigError as exc:
        # The settings did not load, so neither did LOG_FORMAT: text only when asked for.
        asked = os.environ.get("LOG_FORMAT", "").strip().lower()
        configure("text" if asked == "text" else "json")
        logger.error("%s", exc)
        return 1
    configure(settings.log_format)
    stop_promptly()
    try:
        connection = wait_for_database(settings, settings.migration_database)
        set_role_timeouts(settings)
        if settings.database != settings.migration_database:
            # The requests' way in works too: PgBouncer up, the database and user known.
            wait_for_database(settings, settings.database).close()
        check_budget(settings, connection)
        if settings.migrate_on_start:
            revision, lock_wait, ahead = migrate(settings, connection)
        else:
            connection.close()
            log("MIGRATE_ON_START is false: not migrating")
            revision, lock_wait, ahead = "", 0.0, False
    except (StartupError, Stopped) as exc:
        configure(settings.log_format)  # again: a failed migration may have left alembic.ini's
        if stopping:
            logger.error("stopped by SIGTERM before serving; a statement in progress was cancelled")
            return 128 + signal.SIGTERM
        logger.error("%s", exc)
        return 1
    record(started, revision, lock_wait, ahead)
    if server:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.execvp(server[0], server)  # noqa: S606 (the image's own command)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
