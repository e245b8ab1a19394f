"""make rehearse: apply the pending revisions to a database under steady traffic, and
report what each one did to that traffic.

    python -m web.ops.rehearse [--rows N] [--known REV,REV... | --restored]
                                [--max-wait-ms MS] [--max-failed N]

Runs against DATABASE_URL's server (MIGRATION_DATABASE_URL when set: PostgreSQL itself),
on a database nobody else uses: `make rehearse` (scripts/rehearse.sh) gives it a
throwaway compose project of its own. Steps:

1. The pending revisions: with --restored (a `make restore`d backup), those after the
   database's alembic_version; else those that are not in --known (the revision ids
   of the base git ref), in dependency order. None: say so, exit 0.
2. With --known: upgrade an empty database to the base, then fill every table with
   --rows rows (one INSERT ... SELECT FROM generate_series per table, with values made
   from each column's type: no per-model code).
3. Steady traffic, on connections of its own: per table, one thread reading a row by
   primary key and one inserting a row, each at --rate requests a second; every
   request's latency and failure is recorded.
4. Each pending revision on its own (alembic upgrade <rev>, through migrations/env.py
   as on a deploy), while a sampler reads pg_locks and pg_stat_activity every
   --sample-ms (at most 100 ms).
5. One table per revision, then the verdict: exit 1 when a request failed or waited
   longer than the budget (--max-failed, --max-wait-ms); 2 on bad input.

Why SQL traffic rather than HTTP requests: it needs no request bodies per endpoint,
works for any table, and measures exactly what a migration's locks do to queries;
the app's own latency on top of it does not change under a migration.
"""

from __future__ import annotations

import argparse
import itertools
import random
import re
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

import psycopg2
from alembic import command
from alembic.config import Config
from psycopg2 import sql

from web.app.db import migration_engine
from web.base.config import ConfigError, load_settings
from web.base.paths import ALEMBIC_INI, VERSIONS_DIR
from web.base.revisions import scan_revisions

# How the rehearsal's connections name themselves in pg_stat_activity.
MIGRATION_APP = "rehearse: migration"
TRAFFIC_APP = "rehearse: {kind} {table}"

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

# Every sample: the relation locks the migration holds or waits for, and every query of
# this database that waits for a lock (who, what, since when).
LOCKS_QUERY = """
SELECT c.relname, l.mode, l.granted
FROM pg_locks l
JOIN pg_stat_activity a ON a.pid = l.pid
JOIN pg_class c ON c.oid = l.relation
WHERE a.application_name = %s AND l.locktype = 'relation'
  AND c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND c.relname NOT IN ('alembic_version', 'alembic_revision_graph')
"""
WAITING_QUERY = """
SELECT application_name, left(query, 120),
       extract(epoch FROM clock_timestamp() - coalesce(query_start, clock_timestamp()))
FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()
"""
# Each table's file on disk: a new one after a revision means the table was rewritten.
FILES_QUERY = """
SELECT relname, relfilenode FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'm') AND relname NOT IN ('alembic_version', 'alembic_revision_graph')
"""
TABLES_QUERY = """
SELECT c.oid, c.relname FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition AND c.relname NOT IN ('alembic_version', 'alembic_revision_graph')
ORDER BY c.relname
"""
COLUMNS_QUERY = """
SELECT a.attname, format_type(a.atttypid, a.atttypmod), t.typname, t.typcategory,
       a.atttypmod, a.attnotnull, a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> ''
FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""
# Single-column keys: (kind, column, referenced table, referenced column).
KEYS_QUERY = """
SELECT con.contype, a.attname, rc.relname, ra.attname
FROM pg_constraint con
JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = con.conkey[1]
LEFT JOIN pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = con.confkey[1]
WHERE con.conrelid = %s AND con.contype IN ('p', 'f') AND cardinality(con.conkey) = 1
"""


class RehearsalError(Exception):
    """Bad input or a database the rehearsal cannot work with: one line, exit 2."""


# --- the pending revisions ---------------------------------------------------------------


def ancestors(graph: dict[str, tuple[str, ...]], revisions: Iterable[str]) -> set[str]:
    """`revisions` and every revision they build on."""
    seen: set[str] = set()
    todo = list(revisions)
    while todo:
        revision = todo.pop()
        if revision not in seen:
            seen.add(revision)
            todo.extend(graph.get(revision, ()))
    return seen


def in_order(graph: dict[str, tuple[str, ...]], revisions: set[str]) -> list[str]:
    """`revisions`, each after the ones it builds on (ties: file name order)."""
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(revisions):
        ready = [
            revision
            for revision in graph
            if revision in revisions
            and revision not in done
            and all(parent in done or parent not in revisions for parent in graph[revision])
        ]
        ordered.append(ready[0])
        done.add(ready[0])
    return ordered


def base_heads(graph: dict[str, tuple[str, ...]], known: set[str]) -> list[str]:
    """The heads of the revisions the base already had: what the database is at before."""
    have = {revision for revision in graph if revision in known}
    built_on = {parent for revision in have for parent in graph[revision]}
    return sorted(have - built_on)


# --- filling the tables ------------------------------------------------------------------


@dataclass
class Column:
    name: str
    type: str  # as format_type() prints it: varchar(100), timestamp with time zone, ...
    typname: str  # the base type's name: varchar, timestamptz, int4, or an enum's name
    category: str  # pg_type.typcategory: N numeric, S string, D date/time, E enum, ...
    typmod: int
    not_null: bool
    has_default: bool  # a default, an identity or a generated column: left to the database


@dataclass
class Table:
    name: str
    columns: list[Column]
    primary_key: str | None  # a single-column primary key, else None
    references: dict[str, tuple[str, str]]  # column -> (table, column) it references
    values: dict[str, str] = field(default_factory=dict)  # column -> SQL expression of i
    # References, when filling: the referenced column's value of the same row number;
    # when traffic writes a row: an existing row of the referenced table.
    fill_references: dict[str, str] = field(default_factory=dict)
    traffic_references: dict[str, str] = field(default_factory=dict)


def read_tables(connection) -> list[Table]:
    """The database's tables (public schema, Alembic's own two aside), from its catalog."""
    tables = []
    with connection.cursor() as cursor:
        cursor.execute(TABLES_QUERY)
        for oid, name in cursor.fetchall():
            cursor.execute(COLUMNS_QUERY, (oid,))
            columns = [Column(*row) for row in cursor.fetchall()]
            cursor.execute(KEYS_QUERY, (oid,))
            keys = cursor.fetchall()
            primary = [column for kind, column, _, _ in keys if kind == "p"]
            references = {column: (rt, rc) for kind, column, rt, rc in keys if kind == "f"}
            tables.append(Table(name, columns, primary[0] if primary else None, references))
    return tables


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"  # standard_conforming_strings: on by default


# The value of row number `i` for a column, by (pg_type.typcategory, type name); None: any
# other type of that category. Distinct per row where the type allows, so unique
# constraints hold. {literal}: a text literal naming the column; {type}: its type.
VALUES = {
    ("N", "int2"): "i % 32767",
    ("N", "int4"): "i",
    ("N", "int8"): "i",
    ("N", None): "(i % 100000) / 100.0",  # numeric, real, double precision, money
    ("S", None): "{literal} || i",
    ("B", None): "i % 2 = 0",
    ("D", "date"): "current_date - (i % 3650)::int",
    ("D", "time"): "time '00:00' + (i % 86400) * interval '1 second'",
    ("D", None): "now() - (i % 100000000) * interval '1 second'",  # timestamp(tz), 3 years
    ("T", None): "i * interval '1 second'",
    ("E", None): "(enum_range(NULL::{type}))[1 + i % cardinality(enum_range(NULL::{type}))]",
    ("U", "uuid"): "md5({literal} || i)::uuid",
    ("U", "json"): "json_build_object('i', i)",
    ("U", "jsonb"): "json_build_object('i', i)",
    ("U", "bytea"): "decode(md5(i::text), 'hex')",
    ("A", None): "'{{}}'",  # an empty array
}


def value_for(table: str, column: Column) -> str | None:
    """An SQL expression of the row number `i` for `column`, or None when VALUES has none."""
    template = VALUES.get((column.category, column.typname)) or VALUES.get((column.category, None))
    if template is None:
        return None
    literal = quote_literal(f"{table}.{column.name}-")
    expression = template.format(literal=literal, type=column.type)
    if column.category == "S" and column.typmod > 4:  # varchar(n), char(n): the last n
        expression = f"right({expression}, {column.typmod - 4})"
    return f"({expression})::{column.type}"


def plan_values(tables: list[Table]) -> list[Table]:
    """Give each table its values, and return the tables in an order that fills every
    referenced table first. Fails (naming the column) when a NOT NULL column without a
    default has a type nothing here can generate."""
    by_name = {table.name: table for table in tables}
    for table in tables:
        for column in table.columns:
            if column.has_default or column.name in table.references:
                continue
            expression = value_for(table.name, column)
            if expression is None and column.not_null:
                raise RehearsalError(
                    f"cannot generate values for {table.name}.{column.name} ({column.type}): "
                    "rehearse on a backup instead (file=<backup>)"
                )
            if expression is not None:
                table.values[column.name] = expression
    # A reference takes the referenced column's value of the same row number: every table
    # has rows 1..N, and a key with a default (serial, identity) numbers them 1..N too.
    ordered: list[Table] = []
    for _ in range(len(tables)):
        for table in tables:
            parents = {ref for ref, _ in table.references.values() if ref != table.name}
            if table not in ordered and parents <= {t.name for t in ordered}:
                ordered.append(table)
    ordered += [table for table in tables if table not in ordered]  # cycles: try anyway
    for table in ordered:
        for column, (parent, parent_column) in table.references.items():
            own = next(c for c in table.columns if c.name == column)
            other = by_name[parent].values.get(parent_column, "i")
            table.fill_references[column] = f"({other})::{own.type}"
            table.traffic_references[column] = (
                f"(SELECT {quote_ident(parent_column)} FROM {quote_ident(parent)} LIMIT 1)"  # noqa: S608 (quoted)
            )
    return ordered


def insert_statement(table: Table, rows: str, references: dict[str, str]) -> sql.Composed:
    """INSERT of generated rows; `rows` is a FROM item that yields the row numbers as `i`.
    Executed without parameters: the values' `%` is the modulo operator, not a placeholder."""
    values = {**table.values, **references}
    if not values:  # nothing but defaults
        return sql.SQL("INSERT INTO {} SELECT FROM {}").format(
            sql.Identifier(table.name), sql.SQL(rows)
        )
    return sql.SQL("INSERT INTO {table} ({columns}) SELECT {values} FROM {rows}").format(
        table=sql.Identifier(table.name),
        columns=sql.SQL(", ").join(map(sql.Identifier, values)),
        values=sql.SQL(", ").join(map(sql.SQL, values.values())),
        rows=sql.SQL(rows),
    )


def fill(connection, tables: list[Table], rows: int) -> None:
    for table in tables:
        started = time.monotonic()
        with connection.cursor() as cursor:
            rows_sql = f"generate_series(1, {int(rows)}) AS s(i)"
            statement = insert_statement(table, rows_sql, table.fill_references)
            try:
                cursor.execute(statement)
            except psycopg2.Error as exc:
                raise RehearsalError(
                    f"cannot fill {table.name}: {str(exc).strip().splitlines()[0]}"
                ) from None
            cursor.execute(sql.SQL("VACUUM ANALYZE {}").format(sql.Identifier(table.name)))
        say(f"filled {table.name} with {rows:,} rows in {time.monotonic() - started:.1f} s")


# --- traffic -----------------------------------------------------------------------------


@dataclass
class Request:
    table: str
    kind: str  # read or write
    start: float  # time.monotonic()
    seconds: float
    error: str | None


class Traffic:
    """Per table, a reader and a writer thread, each on its own connection at `rate`
    requests a second. A request waits at most `timeout_ms` (statement_timeout), then
    fails: a request blocked behind a lock ends and is counted."""

    def __init__(self, connect, tables: list[Table], rate: float, timeout_ms: int) -> None:
        self.connect, self.rate, self.timeout_ms = connect, rate, timeout_ms
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self.threads = []
        for table in tables:
            for kind in ("read", "write"):
                self.threads.append(
                    threading.Thread(target=self.run, args=(table, kind), daemon=True)
                )
        # Rows inserted by traffic: numbers no fill reaches, within an integer column's range.
        self.next_row = 2_000_000_000
        self.lock = threading.Lock()
        self.keys: dict[str, list] = {}  # table -> primary keys to read (load_keys)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=self.timeout_ms / 1000 + 5)

    def row_number(self) -> int:
        with self.lock:
            self.next_row += 1
            return self.next_row

    def statement(self, table: Table, kind: str) -> tuple[sql.Composable, tuple | None]:
        if kind == "write":
            one_row = f"(SELECT {self.row_number()}::bigint AS i) AS s"
            return insert_statement(table, one_row, table.traffic_references), None
        if table.primary_key is None:
            return sql.SQL("SELECT * FROM {} LIMIT 1").format(sql.Identifier(table.name)), ()
        return (
            sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
                sql.Identifier(table.name), sql.Identifier(table.primary_key)
            ),
            (random.choice(self.keys[table.name]),),  # noqa: S311 (not for security)
        )

    def run(self, table: Table, kind: str) -> None:
        connection = self.connect(TRAFFIC_APP.format(kind=kind, table=table.name))
        connection.autocommit = True
        with closing(connection), connection.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(self.timeout_ms)}")
            interval = 1 / self.rate
            due = time.monotonic()
            while not self.stopping.is_set():
                statement, args = self.statement(table, kind)
                start = time.monotonic()
                error = None
                try:
                    cursor.execute(statement, args)
                except psycopg2.Error as exc:
                    error = str(exc).strip().splitlines()[0]
                self.requests.append(
                    Request(table.name, kind, start, time.monotonic() - start, error)
                )
                # A steady rate: the next request when it is due; after a long one, at once
                # and from then on, without a burst to catch up.
                due = max(due + interval, time.monotonic())
                self.stopping.wait(max(0.0, due - time.monotonic()))

    def load_keys(self, connection, tables: list[Table]) -> None:
        """Primary keys to read, a sample of up to 1,000 per table."""
        with connection.cursor() as cursor:
            for table in tables:
                if table.primary_key is None:
                    continue
                cursor.execute(
                    sql.SQL("SELECT {} FROM {} TABLESAMPLE SYSTEM (1) LIMIT 1000").format(
                        sql.Identifier(table.primary_key), sql.Identifier(table.name)
                    )
                )
                keys = [row[0] for row in cursor.fetchall()]
                if not keys:  # small tables: SYSTEM samples whole pages, maybe none
                    cursor.execute(
                        sql.SQL("SELECT {} FROM {} LIMIT 1000").format(
                            sql.Identifier(table.primary_key), sql.Identifier(table.name)
                        )
                    )
                    keys = [row[0] for row in cursor.fetchall()]
                self.keys[table.name] = keys or [None]


# --- sampling pg_locks and pg_stat_activity ----------------------------------------------


@dataclass
class Sample:
    at: float  # time.monotonic()
    locks: list[tuple[str, str, bool]]  # (table, mode, granted) of the migration
    waiting: list[tuple[str, str, float]]  # (application_name, query, seconds waited)


class Sampler:
    """Reads pg_locks and pg_stat_activity every `interval` seconds, on its own connection."""

    def __init__(self, connection, interval: float) -> None:
        self.connection, self.interval = connection, interval
        self.samples: list[Sample] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self) -> None:
        self.connection.autocommit = True
        with self.connection.cursor() as cursor:
            due = time.monotonic()
            while not self.stopping.is_set():
                at = time.monotonic()
                cursor.execute(LOCKS_QUERY, (MIGRATION_APP,))
                locks = cursor.fetchall()
                cursor.execute(WAITING_QUERY)
                waiting = [(app, query, float(seconds)) for app, query, seconds in cursor]
                self.samples.append(Sample(at, locks, waiting))
                due = max(due + self.interval, time.monotonic())
                self.stopping.wait(max(0.0, due - time.monotonic()))

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=5)

    def between(self, start: float, end: float) -> list[Sample]:
        return [sample for sample in self.samples if start <= sample.at <= end]


# --- one revision ------------------------------------------------------------------------


@dataclass
class TableReport:
    table: str
    lock: str | None = None
    lock_seconds: float = 0.0
    rewritten: bool = False
    before: list[float] = field(default_factory=list)  # latencies, seconds
    during: list[float] = field(default_factory=list)
    longest: float = 0.0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error -> requests that ended in it


@dataclass
class RevisionReport:
    revision: str
    seconds: float
    error: str | None
    tables: list[TableReport]
    waited: dict[str, tuple[int, float, str]]  # who -> (samples, longest wait s, query)
    samples: int
    longest_gap: float
    over_budget: int = 0  # requests that waited longer than the budget
    failed: int = 0


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def strongest_locks(samples: list[Sample], interval: float) -> dict[str, tuple[str, float]]:
    """Per table, the strongest lock the migration held, and for how long: from the first
    sample that saw it to the last, plus one interval."""
    seen: dict[tuple[str, str], tuple[float, float]] = {}
    for sample in samples:
        for table, mode, granted in sample.locks:
            if granted and mode in LOCK_MODES:
                first, _ = seen.get((table, mode), (sample.at, sample.at))
                seen[table, mode] = (first, sample.at)
    strongest: dict[str, tuple[str, float]] = {}
    for (table, mode), (first, last) in seen.items():
        if table not in strongest or LOCK_MODES.index(mode) > LOCK_MODES.index(strongest[table][0]):
            strongest[table] = (mode, last - first + interval)
    return strongest


def summarise(
    revision: str,
    error: str | None,
    *,
    window: tuple[float, float, float],
    files: tuple[dict[str, int], dict[str, int]],
    requests: list[Request],
    samples: list[Sample],
    interval: float,
    max_wait: float,
) -> RevisionReport:
    """The report of one revision. `window`: (start of the "before" window, the revision's
    start, its end); `files`: each table's file before and after."""
    before_start, start, end = window
    files_before, files_after = files
    tables = {name: TableReport(name) for name in set(files_before) | set(files_after)}
    for name, report in tables.items():
        old, new = files_before.get(name), files_after.get(name)
        report.rewritten = old is not None and new is not None and old != new
    for table, (mode, seconds) in strongest_locks(samples, interval).items():
        report = tables.setdefault(table, TableReport(table))
        report.lock, report.lock_seconds = mode, seconds
    waited: dict[str, tuple[int, float, str]] = {}
    for sample in samples:
        for who, query, seconds in sample.waiting:
            count, longest, _ = waited.get(who, (0, 0.0, query))
            waited[who] = (count + 1, max(longest, seconds), query)
    result = RevisionReport(revision, end - start, error, [], waited, len(samples), 0.0)
    result.longest_gap = max((b.at - a.at for a, b in itertools.pairwise(samples)), default=0.0)
    for request in requests:
        report = tables.setdefault(request.table, TableReport(request.table))
        if before_start <= request.start < start:
            report.before.append(request.seconds)
        elif request.start < end and request.start + request.seconds >= start:
            report.during.append(request.seconds)
            report.longest = max(report.longest, request.seconds)
            report.failed += request.error is not None
            if request.error is not None:
                report.errors[request.error] = report.errors.get(request.error, 0) + 1
            result.failed += request.error is not None
            result.over_budget += request.seconds > max_wait
    result.tables = [tables[name] for name in sorted(tables)]
    return result


def milliseconds(seconds: float | None) -> str:
    return (
        "-"
        if seconds is None
        else f"{seconds * 1000:.0f}"
        if seconds >= 0.1
        else f"{seconds * 1000:.1f}"
    )


def render(report: RevisionReport, max_wait: float, interval: float) -> str:
    outcome = f"failed: {report.error}" if report.error else "applied"
    lines = [
        f"revision {report.revision}: {outcome} in {report.seconds:.2f} s "
        f"({report.samples} samples of pg_locks and pg_stat_activity, "
        f"every {interval * 1000:.0f} ms, longest gap {report.longest_gap * 1000:.0f} ms)",
    ]
    header = (
        "table",
        "strongest lock",
        "held s",
        "rewritten",
        "p50/p99 before ms",
        "p50/p99 during ms",
        "longest ms",
        "failed",
    )
    rows = [header]
    for table in report.tables:
        rows.append(
            (
                table.table,
                table.lock or "-",
                f"{table.lock_seconds:.2f}" if table.lock else "-",
                "yes" if table.rewritten else "no",
                f"{milliseconds(percentile(table.before, 0.5))}/{milliseconds(percentile(table.before, 0.99))}",
                f"{milliseconds(percentile(table.during, 0.5))}/{milliseconds(percentile(table.during, 0.99))}",
                milliseconds(table.longest) if table.during else "-",
                str(table.failed),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        lines.append(
            "  "
            + "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )
    for table in report.tables:
        for error, count in table.errors.items():
            lines.append(f"  failed on {table.table}: {count} x {error}")
    if report.waited:
        lines.append("  waited for a lock (seen in pg_stat_activity):")
        for who, (count, longest, query) in sorted(report.waited.items()):
            lines.append(f"    {who}: {count} samples, longest {longest:.2f} s: {query}")
    else:
        lines.append("  waited for a lock: nothing, in any sample")
    verdict = []
    if report.over_budget:
        verdict.append(f"{report.over_budget} requests waited over {max_wait * 1000:.0f} ms")
    if report.failed:
        verdict.append(f"{report.failed} requests failed")
    lines.append("  over budget: " + "; ".join(verdict) if verdict else "  within budget")
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------------


def say(message: str) -> None:
    print(f"rehearse: {message}", file=sys.stderr, flush=True)


@contextmanager
def running(*workers: Traffic | Sampler) -> Iterator[None]:
    """Start the workers; stop them however the block ends."""
    for worker in workers:
        worker.start()
    try:
        yield
    finally:
        for worker in workers:
            worker.stop()


def table_files(connection) -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute(FILES_QUERY)
        return dict(cursor.fetchall())


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rehearse", description=__doc__.split("\n\n")[0])
    base = parser.add_mutually_exclusive_group(required=True)
    base.add_argument("--known", help="the base's revision ids, comma-separated ('' for none)")
    base.add_argument("--restored", action="store_true", help="the database holds a backup")
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (1000000)")
    parser.add_argument(
        "--max-wait-ms", type=int, default=1000, help="budget: longest request (1000)"
    )
    parser.add_argument("--max-failed", type=int, default=0, help="budget: failed requests (0)")
    parser.add_argument("--rate", type=float, default=20, help="requests a second per thread (20)")
    parser.add_argument(
        "--sample-ms", type=int, default=50, help="sampling interval, at most 100 (50)"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds of traffic before each revision (2)"
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows: at least 1")
    if not 1 <= args.sample_ms <= 100:
        parser.error("--sample-ms: between 1 and 100")
    if args.max_wait_ms < 1 or args.max_failed < 0 or args.rate <= 0 or args.settle <= 0:
        parser.error(
            "--max-wait-ms, --rate and --settle must be positive, --max-failed not negative"
        )
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        return rehearse(args)
    except (RehearsalError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def pending_revisions(control, args: argparse.Namespace) -> tuple[list[str], list[str], str]:
    """(the heads the database starts at, the revisions to rehearse in order, a description
    of the start)."""
    graph = scan_revisions(VERSIONS_DIR)
    if args.restored:
        with control.cursor() as cursor:
            cursor.execute("SELECT to_regclass('alembic_version') IS NOT NULL")
            if not cursor.fetchone()[0]:
                raise RehearsalError("the restored database has no alembic_version table")
            cursor.execute("SELECT version_num FROM alembic_version")
            heads = sorted(row[0] for row in cursor.fetchall())
        unknown = [head for head in heads if head not in graph]
        if unknown:
            raise RehearsalError(
                f"the backup is at revision {', '.join(unknown)}, which this code does not know"
            )
        where = f"the backup's revision ({', '.join(heads) or 'empty'})"
    else:
        heads = base_heads(graph, {rev for rev in re.split(r"[\s,]+", args.known) if rev})
        where = f"the base ({', '.join(heads) or 'no revisions'})"
    return heads, in_order(graph, set(graph) - ancestors(graph, heads)), where


def apply_each(
    config: Config,
    pending: list[str],
    *,
    control,
    traffic: Traffic,
    sampler: Sampler,
    args: argparse.Namespace,
) -> list[RevisionReport]:
    """Each revision in turn, under the running traffic: a report each; stops at a failure."""
    reports = []
    interval = args.sample_ms / 1000
    time.sleep(args.settle)  # the first "before" window
    for revision in pending:
        files_before = table_files(control)
        start = time.monotonic()
        error = None
        try:
            command.upgrade(config, revision)
        except (Exception, SystemExit) as exc:  # it failed: report it, stop there
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        end = time.monotonic()
        files_after = table_files(control)
        time.sleep(max(interval * 2, min(args.settle, 1.0)))  # requests that waited, finish
        reports.append(
            summarise(
                revision,
                error,
                window=(start - args.settle, start, end),
                files=(files_before, files_after),
                requests=list(traffic.requests),
                samples=sampler.between(start, end + interval),
                interval=interval,
                max_wait=args.max_wait_ms / 1000,
            )
        )
        if error:
            break
        time.sleep(args.settle)  # the next revision's "before" window
    return reports


def verdict(reports: list[RevisionReport], requests: int, args: argparse.Namespace) -> int:
    """Print every report and the verdict; 1 when over budget."""
    print()
    for report in reports:
        print(render(report, args.max_wait_ms / 1000, args.sample_ms / 1000))
        print()
    failed = sum(report.failed for report in reports)
    over = sum(report.over_budget for report in reports)
    problems = [f"revision {report.revision} failed" for report in reports if report.error]
    if failed > args.max_failed:
        problems.append(f"{failed} failed requests (budget: {args.max_failed})")
    if over:
        problems.append(f"{over} requests waited over {args.max_wait_ms} ms")
    if problems:
        print(f"rehearse: OVER BUDGET: {'; '.join(problems)} ({requests} requests in all)")
        return 1
    print(
        f"rehearse: within budget: {len(reports)} revisions, {requests} requests, "
        f"{failed} failed (budget: {args.max_failed}), none waited over {args.max_wait_ms} ms"
    )
    return 0


def rehearse(args: argparse.Namespace) -> int:
    settings = load_settings()

    def connect(application_name: str):
        return psycopg2.connect(
            **settings.migration_database.connect_kwargs(),
            **settings.connect_args(),
            application_name=application_name,
        )

    control = connect("rehearse: control")
    control.autocommit = True
    with closing(control):
        heads, pending, where = pending_revisions(control, args)
        if not pending:
            say(f"nothing to rehearse: no revision after {where}")
            return 0
        say(f"pending after {where}: {', '.join(pending)}")
        config = Config(str(ALEMBIC_INI))
        # migrations/env.py migrates on a connection of this engine (Alembic's
        # connection-sharing recipe), named so that the sampler finds its locks.
        engine = migration_engine(settings, application_name=MIGRATION_APP)
        config.attributes["connection"] = engine
        if args.restored:
            with control.cursor() as cursor:
                cursor.execute("ANALYZE")  # pg_restore leaves the planner without statistics
        else:
            for head in heads:
                command.upgrade(config, head)
            fill(control, plan_values(read_tables(control)), args.rows)
        tables = plan_values(read_tables(control))
        if not tables:
            say("no tables before the first pending revision: traffic has nothing to touch")
        # A request blocked longer than the budget is cut off (and counted) a second later.
        traffic = Traffic(connect, tables, args.rate, args.max_wait_ms + 1000)
        traffic.load_keys(control, tables)
        sampler = Sampler(connect("rehearse: sampler"), args.sample_ms / 1000)
        with closing(sampler.connection), running(traffic, sampler):
            reports = apply_each(
                config, pending, control=control, traffic=traffic, sampler=sampler, args=args
            )
        engine.dispose()
    return verdict(reports, len(traffic.requests), args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
