"""What a revision does while it runs, seen from PostgreSQL: a sampler that reads pg_locks and
pg_stat_activity at a steady rate on a connection of its own, and the migration's own view of
each of its transactions just before it commits (the locks it holds, the tables it has read
sequentially), which no sampling interval can miss."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, event

from web.ops.traffic import Traffic

# How the migration's connection names itself in pg_stat_activity.
MIGRATION_APP = "rehearse: migration"

# PostgreSQL's table lock modes, weakest first (the documentation's conflict table).
LOCK_MODES = (
    "AccessShareLock",
    "RowShareLock",
    "RowExclusiveLock",
    "ShareUpdateExclusiveLock",
    "ShareLock",
    "ShareRowExclusiveLock",
    "ExclusiveLock",
    "AccessExclusiveLock",
)
# The modes that conflict with RowExclusiveLock: while one is held, writes to the table wait.
BLOCKS_WRITES = frozenset(LOCK_MODES[4:])

# Every sample: the relation locks the migration holds or waits for, and every query of
# this database that waits for a lock (who, what, since when).
LOCKS_QUERY = """
SELECT c.relname, l.mode, l.granted
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
WHERE a.application_name = %s AND l.locktype = 'relation'
  AND c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> 'alembic_version'
"""
WAITING_QUERY = """
SELECT application_name, left(query, 120),
       extract(epoch FROM clock_timestamp() - coalesce(query_start, clock_timestamp()))
FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""
# In the migration's transaction, just before it commits: the locks it holds, and the
# tables it has read with sequential scans (pg_stat_xact_*: this transaction's own counts).
HELD_QUERY = """
SELECT c.relname, l.mode FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' AND l.granted
  AND c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname <> 'alembic_version'
"""
READ_QUERY = """
SELECT relname FROM pg_stat_xact_user_tables
WHERE schemaname = 'public' AND seq_scan > 0 AND relname <> 'alembic_version'
"""
# A bound, not a budget: no rehearsal runs this long.
LIMIT_SECONDS = 24 * 3600


def strongest(modes: Iterable[str]) -> str:
    return max(modes, key=LOCK_MODES.index)


@dataclass(frozen=True)
class Sample:
    at: float  # time.monotonic()
    locks: list[tuple[str, str, bool]]  # (table, mode, granted) of the migration
    waiting: list[tuple[str, str, float]]  # (application_name, query, seconds waited)


class Sampler:
    """A sample every `interval` seconds, on `connection` (autocommit)."""

    def __init__(self, connection, interval: float) -> None:
        connection.autocommit = True
        self.cursor = connection.cursor()
        self.traffic = Traffic(
            {"sampler": self.sample}, rate=1 / interval, limit=LIMIT_SECONDS, join_timeout=5
        )

    def sample(self) -> Sample:
        at = time.monotonic()
        self.cursor.execute(LOCKS_QUERY, (MIGRATION_APP,))
        locks = self.cursor.fetchall()
        self.cursor.execute(WAITING_QUERY)
        waiting = [(app, query, float(seconds)) for app, query, seconds in self.cursor]
        return Sample(at, locks, waiting)

    def __enter__(self) -> Sampler:
        self.traffic.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.traffic.stop()

    def between(self, start: float, end: float) -> list[Sample]:
        samples = [request.outcome for request in self.traffic.requests if request.error is None]
        return sorted(
            (s for s in samples if isinstance(s, Sample) and start <= s.at <= end),
            key=lambda s: s.at,
        )


@dataclass(frozen=True)
class Footprint:
    """What one transaction of the migration held and read, just before it committed.
    (Statements in an autocommit block commit on their own: only the sampler sees them.)"""

    locks: dict[str, str]  # table -> the strongest lock held on it
    read: frozenset[str]  # the tables read with a sequential scan (a check, a copy, a build)


class Footprints:
    """Every commit of `engine`'s connections, in order (an SQLAlchemy commit event)."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[Footprint] = []
        event.listen(engine, "commit", self.record)

    def record(self, connection: Connection) -> None:
        # On the driver's connection: a statement of SQLAlchemy's own here would begin anew.
        with connection.connection.dbapi_connection.cursor() as cursor:
            cursor.execute(HELD_QUERY)
            modes: dict[str, list[str]] = {}
            for table, mode in cursor.fetchall():
                if mode in LOCK_MODES:  # not a predicate lock (SIReadLock)
                    modes.setdefault(table, []).append(mode)
            cursor.execute(READ_QUERY)
            read = frozenset(row[0] for row in cursor.fetchall())
        if modes or read:
            locks = {table: strongest(found) for table, found in modes.items()}
            self.seen.append(Footprint(locks, read))
