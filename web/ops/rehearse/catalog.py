"""The tables, read from PostgreSQL's catalog (public schema, Alembic's own two aside): their
columns and keys, values planned for each column from its type (no per-model code), the
fill, and what a revision is judged by: each table's file and its rows."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import psycopg2
from psycopg2 import sql

from web.base.quoting import literal
from web.ops.rehearse import RehearsalError, say

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
# Each table's file on disk (a new one after a revision: the table was rewritten), and its
# rows as the last VACUUM or ANALYZE counted them (the fill's, the restore's; -1: never, as
# for a table the rehearsal's own revisions made).
FILES_QUERY = """
SELECT relname, relfilenode, greatest(reltuples, 0)::bigint FROM pg_class
WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'm')
  AND relname NOT IN ('alembic_version', 'alembic_revision_graph')
"""


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


@dataclass(frozen=True)
class TableState:
    """A table as a revision finds or leaves it."""

    file: int  # pg_class.relfilenode
    rows: int  # pg_class.reltuples


def read_tables(connection) -> list[Table]:
    """The database's tables, from its catalog."""
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


def table_states(connection) -> dict[str, TableState]:
    with connection.cursor() as cursor:
        cursor.execute(FILES_QUERY)
        return {name: TableState(file, rows) for name, file, rows in cursor.fetchall()}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


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
    prefix = literal(f"{table}.{column.name}-")
    expression = template.format(literal=prefix, type=column.type)
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
    """`rows` rows in each table, one INSERT ... SELECT FROM generate_series each."""
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
