"""The rehearsal's traffic: per table, a reader (a row by primary key) and a writer (a new
row), each on a connection of its own named in pg_stat_activity, paced by web/ops/traffic.py.
A request waits at most `timeout_ms` (statement_timeout), then fails: one blocked behind a
lock ends and is counted."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager

from psycopg2 import sql

from web.ops.rehearse.catalog import Table, insert_statement
from web.ops.traffic import Traffic

# How the connections name themselves in pg_stat_activity: "rehearse: write items".
APPLICATION = "rehearse: {sender}"
KINDS = ("read", "write")
# A bound, not a budget: no rehearsal runs this long.
LIMIT_SECONDS = 24 * 3600


def sender(kind: str, table: str) -> str:
    return f"{kind} {table}"


def table_of(name: str) -> str:
    """The table a sender's requests go to."""
    return name.split(" ", 1)[1]


def load_keys(connection, table: Table) -> list:
    """Primary keys to read, a sample of up to 1,000 ([None] without a primary key)."""
    if table.primary_key is None:
        return [None]
    key, name = sql.Identifier(table.primary_key), sql.Identifier(table.name)
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT {} FROM {} TABLESAMPLE SYSTEM (1) LIMIT 1000").format(key, name)
        )
        keys = [row[0] for row in cursor.fetchall()]
        if not keys:  # small tables: SYSTEM samples whole pages, maybe none
            cursor.execute(sql.SQL("SELECT {} FROM {} LIMIT 1000").format(key, name))
            keys = [row[0] for row in cursor.fetchall()]
    return keys or [None]


class RowNumbers:
    """Row numbers for the writers' rows: beyond any fill, within an integer column's range."""

    def __init__(self) -> None:
        self.last = 2_000_000_000
        self.lock = threading.Lock()

    def next(self) -> int:
        with self.lock:
            self.last += 1
            return self.last


def reader(cursor, table: Table, keys: list) -> Callable[[], object]:
    if table.primary_key is None:
        statement = sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table.name))
        return lambda: cursor.execute(statement)
    statement = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
        sql.Identifier(table.name), sql.Identifier(table.primary_key)
    )
    return lambda: cursor.execute(statement, (random.choice(keys),))  # noqa: S311 (not for security)


def writer(cursor, table: Table, numbers: RowNumbers) -> Callable[[], object]:
    def send() -> None:
        one_row = f"(SELECT {numbers.next()}::bigint AS i) AS s"
        cursor.execute(insert_statement(table, one_row, table.traffic_references))

    return send


@contextmanager
def sql_traffic(
    connect: Callable[[str], object], control, tables: list[Table], rate: float, timeout_ms: int
) -> Iterator[Traffic]:
    """The traffic, running for the block; its connections closed after it."""
    numbers = RowNumbers()
    senders: dict[str, Callable[[], object]] = {}
    with ExitStack() as stack:
        for table in tables:
            for kind in KINDS:
                name = sender(kind, table.name)
                connection = stack.enter_context(closing(connect(APPLICATION.format(sender=name))))
                connection.autocommit = True
                cursor = stack.enter_context(connection.cursor())
                cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
                senders[name] = (
                    reader(cursor, table, load_keys(control, table))
                    if kind == "read"
                    else writer(cursor, table, numbers)
                )
        traffic = Traffic(
            senders, rate=rate, limit=LIMIT_SECONDS, join_timeout=timeout_ms / 1000 + 5
        )
        with traffic:
            yield traffic
