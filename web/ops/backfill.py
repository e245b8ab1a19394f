"""`make backfill name=<name>`: a data migration run after the deploy, off the start path.

migrations/backfills/<name>.py declares TABLE, KEY, SQL and BATCH_SIZE (README, "Backfills").
The table is walked in key order, one short transaction a batch that also moves its
checkpoint, so a killed run resumes where it stopped and every row is done once; traffic
first (BACKFILL_LOCK_TIMEOUT_MS, BACKFILL_PAUSE_MS). On PostgreSQL itself, as migrations:
its advisory lock is session-level. It creates its checkpoint table on first use.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TextIO

from web.base.config import ConfigError, Settings, load_settings
from web.base.paths import BACKFILLS_DIR, ROOT

ATTEMPTS = 10  # tries per batch whose row locks are held elsewhere
LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout's SQLSTATE

CREATE_CHECKPOINTS = """
CREATE TABLE IF NOT EXISTS backfill_checkpoints (
    name text PRIMARY KEY,
    last_key text,  -- the highest key done; NULL before the first batch
    rows_done bigint NOT NULL DEFAULT 0,
    started_at timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
)"""
ADD_CHECKPOINT = "INSERT INTO backfill_checkpoints (name) VALUES (:name) ON CONFLICT DO NOTHING"
RESET_CHECKPOINT = (
    "UPDATE backfill_checkpoints SET last_key = NULL, rows_done = 0, started_at = now(),"
    " finished_at = NULL WHERE name = :name"
)
READ_CHECKPOINT = (
    "SELECT last_key, rows_done, finished_at FROM backfill_checkpoints WHERE name = :name"
)
# Past the last key, the walk is over: finished_at is set.
MOVE_CHECKPOINT = (
    "UPDATE backfill_checkpoints SET last_key = :last, rows_done = rows_done + :size,"
    " finished_at = CASE WHEN :size = 0 THEN now() END WHERE name = :name"
)
# One run of a backfill at a time. Session-level: a killed run's lock ends with its connection.
TRY_LOCK = "SELECT pg_try_advisory_lock(hashtext('backfill'), hashtext(:name))"


class BackfillError(Exception):
    """One line for the person running it; the checkpoint is intact, so a rerun resumes."""


class UnknownBackfill(BackfillError):
    """No file of that name: the message lists the known ones."""


@dataclass(frozen=True)
class Backfill:
    name: str
    table: str
    key: str
    sql: str
    batch_size: int

    # S608: the table and the key come from the backfill's file, which is code, not input.
    def keys_sql(self) -> str:
        """Its keys past :after (every key when :after is NULL: before the first batch)."""
        return (
            f"SELECT {self.key} AS k FROM {self.table}"  # noqa: S608
            f" WHERE :after IS NULL OR {self.key} > :after"
        )

    def count_sql(self) -> str:
        return f"SELECT count(*) FROM ({self.keys_sql()}) AS r"  # noqa: S608

    def bounds_sql(self) -> str:
        """The next batch: its first and last key, and its size (0: the walk is over)."""
        return (
            "SELECT min(k) AS first, max(k) AS last, count(*) AS size"  # noqa: S608
            f" FROM ({self.keys_sql()} ORDER BY {self.key} LIMIT {self.batch_size}) AS batch"
        )


def known() -> str:
    """The backfills there are, for messages."""
    names = sorted(path.stem for path in BACKFILLS_DIR.glob("[!_]*.py"))
    return ", ".join(names) or f"none yet (add one in {BACKFILLS_DIR.relative_to(ROOT)}/)"


def load(name: str) -> Backfill:
    """The backfill in migrations/backfills/<name>.py, its declarations checked."""
    path = BACKFILLS_DIR / f"{name}.py"
    if not re.fullmatch(r"\w+", name) or not path.is_file():
        raise UnknownBackfill(f"no backfill named {name!r}; known: {known()}")
    spec = importlib.util.spec_from_file_location(f"backfills.{name}", path)
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    where = path.relative_to(ROOT)
    declared: dict[str, Any] = {}
    for attribute, kind in (("TABLE", str), ("KEY", str), ("SQL", str), ("BATCH_SIZE", int)):
        value = getattr(module, attribute, 1000 if attribute == "BATCH_SIZE" else None)
        if not isinstance(value, kind) or not value or (kind is int and value < 1):
            wanted = "a positive integer" if kind is int else "a non-empty string"
            raise BackfillError(f"{where}: {attribute} must be {wanted}")
        declared[attribute.lower()] = value
    for parameter in (":first", ":last"):
        if not re.search(rf"{parameter}\b", declared["sql"]):
            raise BackfillError(f"{where}: SQL must use {parameter} (the batch's keys)")
    return Backfill(name=name, **declared)


class Progress:
    """A bar on stderr: redrawn in place on a terminal, a line every 5 s in a log."""

    def __init__(self, name: str, done: int, total: int, stream: TextIO = sys.stderr) -> None:
        self.name, self.done, self.total, self.stream = name, done, total, stream
        self.started, self.start_done = time.monotonic(), done
        self.tty = stream.isatty()
        self.shown = 0.0

    def advance(self, rows: int, final: bool = False) -> None:
        self.done += rows
        self.total = max(self.total, self.done)  # rows inserted since the start
        now = time.monotonic()
        if not final and now - self.shown < (0.2 if self.tty else 5):
            return
        self.shown = now
        rate = (self.done - self.start_done) / max(now - self.started, 1e-9)
        share = self.done / self.total if self.total else 1.0
        left = f", {(self.total - self.done) / rate:.0f} s left" if rate and not final else ""
        bar = "#" * round(share * 30)
        line = (
            f"backfill {self.name}: [{bar:<30}] {share:4.0%} {self.done:,}/{self.total:,} rows,"
            f" {rate:,.0f} rows/s{left}"
        )
        self.stream.write(f"\r{line}\033[K" if self.tty else f"{line}\n")
        if self.tty and final:
            self.stream.write("\n")
        self.stream.flush()


def run(backfill: Backfill, settings: Settings, again: bool = False) -> str:
    """Walk the table from the checkpoint to its end; the last line to print."""
    from sqlalchemy import text

    from web.app.db import migration_engine

    engine = migration_engine(settings)
    name = {"name": backfill.name}
    with engine.connect() as connection:
        if not connection.scalar(text(TRY_LOCK), name):
            raise BackfillError(f"backfill {backfill.name} is already running elsewhere")
        connection.execute(text(CREATE_CHECKPOINTS))
        connection.execute(text(ADD_CHECKPOINT), name)
        if again:
            connection.execute(text(RESET_CHECKPOINT), name)
        state = connection.execute(text(READ_CHECKPOINT), name).one()
        connection.commit()
        if state.finished_at is not None:
            return (
                f"backfill {backfill.name}: already done ({state.rows_done:,} rows, finished"
                f" {state.finished_at:%Y-%m-%d %H:%M:%S %Z}); again=1 runs it from the start"
            )
        after = state.last_key
        if after is not None:
            say(f"backfill {backfill.name}: resuming after {backfill.key} {after}")
        remaining = connection.scalar(text(backfill.count_sql()), {"after": after})
        connection.commit()
        progress = Progress(backfill.name, state.rows_done, state.rows_done + remaining)
        bounds = text(backfill.bounds_sql())
        while done := run_batch(connection, backfill, bounds, after, settings):
            after, rows = done
            progress.advance(rows)
            time.sleep(settings.backfill_pause_ms / 1000)
        progress.advance(0, final=True)
    elapsed = time.monotonic() - progress.started
    return f"backfill {backfill.name}: done, {progress.done:,} rows in {elapsed:.1f} s"


def run_batch(
    connection: Any, backfill: Backfill, bounds: Any, after: str | None, settings: Settings
) -> tuple[str, int] | None:
    """One batch and its checkpoint, in one transaction: (its last key, its rows), or None
    at the end of the table. Retried while its rows are locked by others, ATTEMPTS times."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    for attempt in range(1, ATTEMPTS + 1):
        try:
            with connection.begin():
                # Wait this long at most for a row lock, so that requests, which may queue
                # behind the rows this batch already holds, never wait for longer.
                connection.execute(
                    text(f"SET LOCAL lock_timeout = {settings.backfill_lock_timeout_ms}")
                )
                # A batch is held to what a request is.
                connection.execute(
                    text(f"SET LOCAL statement_timeout = {settings.db_statement_timeout_ms}")
                )
                batch = connection.execute(bounds, {"after": after}).one()
                if batch.size:
                    connection.execute(
                        text(backfill.sql), {"first": batch.first, "last": batch.last}
                    )
                last = str(batch.last) if batch.size else after
                values = {"name": backfill.name, "last": last, "size": batch.size}
                connection.execute(text(MOVE_CHECKPOINT), values)
            return (last, batch.size) if batch.size else None
        except OperationalError as exc:
            if getattr(exc.orig, "pgcode", None) != LOCK_NOT_AVAILABLE:
                raise
            if attempt == ATTEMPTS:
                break
            wait = min(0.1 * 2**attempt, 5.0)
            say(
                f"backfill {backfill.name}: rows after {backfill.key} {after} are locked by"
                f" another transaction; trying again in {wait:.1f} s ({attempt}/{ATTEMPTS})"
            )
            time.sleep(wait)
    raise BackfillError(
        f"backfill {backfill.name}: the rows after {backfill.key} {after} stayed locked through"
        f" {ATTEMPTS} tries; run it again to resume from there"
    )


def say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m web.ops.backfill",
        description="Run a backfill of migrations/backfills/, resuming from its checkpoint.",
    )
    parser.add_argument("name", nargs="?", help="the backfill: its file's name without .py")
    parser.add_argument("--again", action="store_true", help="start over, even when done")
    args = parser.parse_args(argv)
    if not args.name:
        say(f"usage: make backfill name=<name>; known: {known()}")
        return 2
    try:
        backfill = load(args.name)
        settings = load_settings()
        print(run(backfill, settings, again=args.again))
    except (BackfillError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, UnknownBackfill) else 1
    except KeyboardInterrupt:
        print(f"\nbackfill {args.name}: interrupted; run it again to resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
