"""One revision's report: its summary (from the requests, the samples, the footprints and the
tables before and after), its rendering, and the verdict.

A revision is judged by what it did, not only by how fast this machine did it: a rewrite of
a table that holds rows, or a lock that blocks writes held while a table that holds rows is
read, fails however fast it ran here; with a production row count, each such lock's hold is
projected (linear in the rows) and judged against the wait budget. Each judgement is a
function in CHECKS: a new one is one more function.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from web.ops.rehearse.catalog import TableState
from web.ops.rehearse.sampler import BLOCKS_WRITES, LOCK_MODES, Footprint, Sample, strongest
from web.ops.rehearse.traffic import table_of
from web.ops.traffic import Request


@dataclass(frozen=True)
class Budget:
    max_wait: float  # seconds a request may take
    max_failed: int  # failed requests, over the whole rehearsal
    prod_rows: int | None = None  # production's rows, for the projection
    start_budget: float = 10.0  # seconds a deploy-time revision may take: replicas wait for it


@dataclass
class TableReport:
    table: str
    lock: str | None = None  # the strongest lock the migration held on it
    held: float | None = None  # seconds the sampler saw that lock held (None: never seen)
    rows: int = 0  # before the revision
    read: bool = False  # the migration read it with a sequential scan
    rewritten: bool = False
    # The table with rows whose read this table's write-blocking lock was held across.
    blocked_over: str | None = None
    grows_with: int = 0  # the rows the lock's hold grows with (0: it does not)
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
    interval: float
    longest_gap: float = 0.0
    kind: str = "deploy-time"  # or "post-deploy" (migrations/post_deploy/)
    over_budget: int = 0  # requests that waited longer than the budget
    failed: int = 0

    def projected(self, table: TableReport, prod_rows: int | None) -> float | None:
        """The lock's hold at `prod_rows`, linear in the rows it grows with. Unseen by the
        sampler, the hold is at most the revision's time."""
        if not prod_rows or not table.grows_with:
            return None
        held = table.held if table.held is not None else self.seconds
        return held * prod_rows / table.grows_with


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def sampled_locks(samples: list[Sample], interval: float) -> dict[str, tuple[str, float]]:
    """Per table, the strongest lock the samples saw the migration hold, and for how long:
    from the first sample that saw it to the last, plus one interval."""
    seen: dict[tuple[str, str], tuple[float, float]] = {}
    for sample in samples:
        for table, mode, granted in sample.locks:
            if granted and mode in LOCK_MODES:
                first, _ = seen.get((table, mode), (sample.at, sample.at))
                seen[table, mode] = (first, sample.at)
    found: dict[str, tuple[str, float]] = {}
    for (table, mode), (first, last) in seen.items():
        if table not in found or LOCK_MODES.index(mode) > LOCK_MODES.index(found[table][0]):
            found[table] = (mode, last - first + interval)
    return found


def judge_locks(
    tables: dict[str, TableReport],
    sampled: dict[str, tuple[str, float]],
    footprints: list[Footprint],
) -> None:
    """Each table's strongest lock (sampled, or seen at a commit) and its hold; a lock that
    blocks writes, held in a transaction that read a table with rows, grows with those rows."""

    def table(name: str) -> TableReport:
        return tables.setdefault(name, TableReport(name))

    for name, (mode, _) in sampled.items():
        table(name).lock = mode
    for footprint in footprints:
        read = [name for name in footprint.read if table(name).rows]
        for name in footprint.read:
            table(name).read = True
        for name, mode in footprint.locks.items():
            report = table(name)
            report.lock = strongest([mode, report.lock or mode])
            if read and mode in BLOCKS_WRITES:
                over = name if name in read else max(read, key=lambda t: tables[t].rows)
                report.blocked_over = over
                report.grows_with = max(report.grows_with, tables[over].rows)
    for name, (mode, seconds) in sampled.items():
        if tables[name].lock == mode:
            tables[name].held = seconds


def lock_waits(samples: list[Sample]) -> dict[str, tuple[int, float, str]]:
    """Who was seen waiting for a lock: (samples, longest wait, query)."""
    waited: dict[str, tuple[int, float, str]] = {}
    for sample in samples:
        for who, query, seconds in sample.waiting:
            count, longest, _ = waited.get(who, (0, 0.0, query))
            waited[who] = (count + 1, max(longest, seconds), query)
    return waited


def summarise(
    revision: str,
    error: str | None,
    *,
    window: tuple[float, float, float],
    states: tuple[dict[str, TableState], dict[str, TableState]],
    footprints: list[Footprint],
    requests: list[Request],
    samples: list[Sample],
    interval: float,
    max_wait: float,
    kind: str = "deploy-time",
) -> RevisionReport:
    """The report of one revision. `window`: (start of the "before" window, the revision's
    start, its end); `states`: the tables before and after it."""
    before_start, start, end = window
    old, new = states
    tables = {name: TableReport(name) for name in set(old) | set(new)}
    for name, report in tables.items():
        report.rows = old[name].rows if name in old else 0
        report.rewritten = name in old and name in new and old[name].file != new[name].file
        if report.rewritten and report.rows:
            report.grows_with = report.rows
    judge_locks(tables, sampled_locks(samples, interval), footprints)
    result = RevisionReport(
        revision, end - start, error, [], lock_waits(samples), len(samples), interval, kind=kind
    )
    result.longest_gap = max((b.at - a.at for a, b in itertools.pairwise(samples)), default=0.0)
    for request in requests:
        report = tables.setdefault(table_of(request.sender), TableReport(table_of(request.sender)))
        if before_start <= request.start < start:
            report.before.append(request.seconds)
        elif request.start < end and request.start + request.seconds >= start:
            report.during.append(request.seconds)
            report.longest = max(report.longest, request.seconds)
            if request.error is not None:
                report.failed += 1
                report.errors[request.error] = report.errors.get(request.error, 0) + 1
                result.failed += 1
            result.over_budget += request.seconds > max_wait
    result.tables = [tables[name] for name in sorted(tables)]
    return result


# --- the judgements: each yields the reasons a revision is over budget -------------------


def rewrites(report: RevisionReport, budget: Budget) -> Iterable[str]:
    for table in report.tables:
        if table.rewritten and table.rows:
            lock = table.lock or "AccessExclusiveLock"
            yield f"{table.table} rewritten: its {table.rows:,} rows copied under {lock}"


def blocking_reads(report: RevisionReport, budget: Budget) -> Iterable[str]:
    for table in report.tables:
        if table.blocked_over and not (table.rewritten and table.rows):
            other = table.blocked_over
            whose = "its" if other == table.table else f"{other}'s"
            rows = next(t.rows for t in report.tables if t.table == other)
            yield f"{table.lock} on {table.table} held while {whose} {rows:,} rows were read"


def projected_holds(report: RevisionReport, budget: Budget) -> Iterable[str]:
    for table in report.tables:
        projected = report.projected(table, budget.prod_rows)
        if projected is not None and table.lock in BLOCKS_WRITES and projected > budget.max_wait:
            yield (
                f"{table.lock} on {table.table}: about {projected:.1f} s at "
                f"{budget.prod_rows:,} rows, over the {budget.max_wait * 1000:.0f} ms budget"
            )


def start_path(report: RevisionReport, budget: Budget) -> Iterable[str]:
    """A deploy-time revision runs on start: every new replica waits for it."""
    if report.kind == "deploy-time" and report.seconds > budget.start_budget:
        yield (
            f"took {report.seconds:.1f} s, over the {budget.start_budget:g} s start budget "
            "(new replicas wait for it before they serve): make it a post-deploy revision "
            "(make revision msg=... post=1), applied after the rollout"
        )


def slow_requests(report: RevisionReport, budget: Budget) -> Iterable[str]:
    if report.over_budget:
        yield f"{report.over_budget} requests waited over {budget.max_wait * 1000:.0f} ms"


CHECKS: tuple[Callable[[RevisionReport, Budget], Iterable[str]], ...] = (
    rewrites,
    blocking_reads,
    projected_holds,
    start_path,
    slow_requests,
)


def findings(report: RevisionReport, budget: Budget) -> list[str]:
    """Why the revision is over budget; empty: within it."""
    return [finding for check in CHECKS for finding in check(report, budget)]


# --- rendering ---------------------------------------------------------------------------


def milliseconds(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f}" if seconds >= 0.1 else f"{seconds * 1000:.1f}"


def spread(values: list[float]) -> str:
    return f"{milliseconds(percentile(values, 0.5))}/{milliseconds(percentile(values, 0.99))}"


def columns(report: RevisionReport, budget: Budget) -> list[tuple[str, ...]]:
    """The table's header and rows: one row per table."""
    rows = [
        (
            "table",
            "strongest lock",
            "held s",
            "rows",
            "read",
            "rewritten",
            "p50/p99 before ms",
            "p50/p99 during ms",
            "longest ms",
            "failed",
            "projected s",
        )
    ]
    for table in report.tables:
        held = (
            "-"
            if not table.lock
            else f"<{report.interval:.2f}"
            if table.held is None
            else f"{table.held:.2f}"
        )
        projected = report.projected(table, budget.prod_rows)
        rows.append(
            (
                table.table,
                table.lock or "-",
                held,
                f"{table.rows:,}",
                "yes" if table.read else "no",
                "yes" if table.rewritten else "no",
                spread(table.before),
                spread(table.during),
                milliseconds(table.longest) if table.during else "-",
                str(table.failed),
                "-" if projected is None else f"{projected:.1f}",
            )
        )
    return rows


def render(report: RevisionReport, budget: Budget) -> str:
    outcome = f"failed: {report.error}" if report.error else "applied"
    projection = f", projected to {budget.prod_rows:,} rows" if budget.prod_rows else ""
    kind = " (post-deploy)" if report.kind == "post-deploy" else ""
    lines = [
        f"revision {report.revision}{kind}: {outcome} in {report.seconds:.2f} s "
        f"({report.samples} samples of pg_locks and pg_stat_activity, "
        f"every {report.interval * 1000:.0f} ms, longest gap {report.longest_gap * 1000:.0f} ms"
        f"{projection})",
    ]
    rows = columns(report, budget)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        lines.append(("  " + "  ".join(cells)).rstrip())
    for table in report.tables:
        for error, count in table.errors.items():
            lines.append(f"  failed on {table.table}: {count} x {error}")
    if report.waited:
        lines.append("  waited for a lock (seen in pg_stat_activity):")
        for who, (count, longest, query) in sorted(report.waited.items()):
            lines.append(f"    {who}: {count} samples, longest {longest:.2f} s: {query}")
    else:
        lines.append("  waited for a lock: nothing, in any sample")
    problems = ["the revision failed"] if report.error else findings(report, budget)
    lines.append("  over budget: " + "; ".join(problems) if problems else "  within budget")
    return "\n".join(lines)


def verdict(reports: list[RevisionReport], requests: int, budget: Budget) -> tuple[int, str]:
    """The exit status (1: over budget) and the last line. Failed requests are judged over
    the whole rehearsal (max_failed), the rest revision by revision."""
    failed = sum(report.failed for report in reports)
    problems = [f"revision {report.revision} failed" for report in reports if report.error]
    problems += [
        f"revision {report.revision}: {finding}"
        for report in reports
        for finding in findings(report, budget)
    ]
    if failed > budget.max_failed:
        problems.append(f"{failed} failed requests (budget: {budget.max_failed})")
    if problems:
        return 1, f"rehearse: OVER BUDGET: {'; '.join(problems)} ({requests} requests in all)"
    return 0, (
        f"rehearse: within budget: {len(reports)} revisions, {requests} requests, "
        f"{failed} failed (budget: {budget.max_failed}), none waited over "
        f"{budget.max_wait * 1000:.0f} ms, no table with rows rewritten or blocked while read"
    )
