"""make rehearse's report from given samples, footprints and requests: the summary, its
rendering and the verdict (web/ops/rehearse/report.py). A revision is judged by what it did
to tables that hold rows, however fast it ran."""

import re

import pytest

from web.ops.rehearse.catalog import TableState
from web.ops.rehearse.report import Budget, findings, render, summarise, verdict
from web.ops.rehearse.sampler import Footprint, Sample
from web.ops.traffic import Request

BUDGET = Budget(max_wait=1.0, max_failed=0)
TIMEOUT = "canceling statement due to statement timeout"


def report(
    *,
    rows: dict[str, int],
    footprints: list[Footprint] = (),
    samples: list[Sample] = (),
    requests: list[Request] = (),
    rewritten: tuple[str, ...] = (),
    error: str | None = None,
    seconds: float = 0.1,
    kind: str = "deploy-time",
):
    """One revision that ran from t=10 for `seconds`, on tables with these rows."""
    before = {name: TableState(file=1, rows=count) for name, count in rows.items()}
    after = {name: TableState(2 if name in rewritten else 1, count) for name, count in rows.items()}
    return summarise(
        "r1",
        error,
        window=(8.0, 10.0, 10.0 + seconds),
        states=(before, after),
        footprints=list(footprints),
        requests=list(requests),
        samples=list(samples),
        interval=0.05,
        max_wait=BUDGET.max_wait,
        kind=kind,
    )


def test_a_rewrite_of_a_table_with_rows_fails_however_fast_it_ran() -> None:
    rewrite = Footprint({"items": "AccessExclusiveLock"}, frozenset({"items"}))
    done = report(rows={"items": 1000}, footprints=[rewrite], rewritten=("items",))
    assert done.seconds < 0.2 and done.over_budget == 0
    assert findings(done, BUDGET) == [
        "items rewritten: its 1,000 rows copied under AccessExclusiveLock"
    ]
    assert verdict([done], 50, BUDGET)[0] == 1


def test_the_same_work_on_an_empty_table_passes() -> None:
    rewrite = Footprint({"items": "AccessExclusiveLock"}, frozenset({"items"}))
    done = report(rows={"items": 0}, footprints=[rewrite], rewritten=("items",))
    assert findings(done, BUDGET) == []
    status, line = verdict([done], 50, BUDGET)
    assert status == 0 and line.startswith("rehearse: within budget: 1 revisions, 50 requests")


def test_a_lock_that_blocks_writes_held_while_the_table_is_read_fails() -> None:
    index = Footprint({"items": "ShareLock"}, frozenset({"items"}))
    assert findings(report(rows={"items": 1000}, footprints=[index]), BUDGET) == [
        "ShareLock on items held while its 1,000 rows were read"
    ]


def test_a_lock_held_while_another_table_is_read_names_that_table() -> None:
    """A foreign key added: both tables locked, the referencing one read to validate it."""
    foreign_key = Footprint(
        {"owners": "ShareRowExclusiveLock", "pets": "ShareRowExclusiveLock"}, frozenset({"pets"})
    )
    done = report(rows={"owners": 10, "pets": 5000}, footprints=[foreign_key])
    assert findings(done, BUDGET) == [
        "ShareRowExclusiveLock on owners held while pets's 5,000 rows were read",
        "ShareRowExclusiveLock on pets held while its 5,000 rows were read",
    ]


def test_a_weaker_lock_while_reading_or_a_strong_one_without_reading_passes() -> None:
    validate = Footprint({"items": "ShareUpdateExclusiveLock"}, frozenset({"items"}))
    add_column = Footprint({"items": "AccessExclusiveLock"}, frozenset())
    for footprint in (validate, add_column):
        assert findings(report(rows={"items": 1000}, footprints=[footprint]), BUDGET) == []


def test_the_hold_is_projected_to_production_rows_and_judged_against_the_budget() -> None:
    held = [Sample(10.0 + i * 0.05, [("items", "ShareLock", True)], []) for i in range(10)]
    index = Footprint({"items": "ShareLock"}, frozenset({"items"}))
    done = report(rows={"items": 1000}, footprints=[index], samples=held)
    [items] = done.tables
    assert items.held == pytest.approx(0.5)  # ten samples 50 ms apart, plus one interval
    assert done.projected(items, 100_000) == pytest.approx(50.0)  # linear in the rows
    big = Budget(1.0, 0, prod_rows=100_000)
    assert findings(done, big)[-1] == (
        "ShareLock on items: about 50.0 s at 100,000 rows, over the 1000 ms budget"
    )
    small = Budget(1.0, 0, prod_rows=1500)  # 0.75 s: within, though still flagged for the read
    assert findings(done, small) == ["ShareLock on items held while its 1,000 rows were read"]


def test_a_lock_the_sampler_never_saw_is_projected_from_the_revisions_time() -> None:
    index = Footprint({"items": "ShareLock"}, frozenset({"items"}))
    done = report(rows={"items": 1000}, footprints=[index])
    [items] = done.tables
    assert items.held is None
    assert done.projected(items, 10_000) == pytest.approx(done.seconds * 10)


def test_the_report_renders_requests_locks_and_waits() -> None:
    samples = [
        Sample(
            10.0,
            [("items", "AccessExclusiveLock", True)],
            [("rehearse: write items", "INSERT", 0.0)],
        ),
        Sample(
            10.05,
            [("items", "AccessExclusiveLock", True)],
            [("rehearse: write items", "INSERT", 0.04)],
        ),
    ]
    requests = [
        Request("read items", 9.0, 0.002),
        Request("write items", 9.5, 0.004),
        Request("write items", 10.02, 1.5, None, TIMEOUT),
        Request("read items", 10.05, 0.06),
    ]
    done = report(
        rows={"items": 1000},
        footprints=[Footprint({"items": "AccessExclusiveLock"}, frozenset({"items"}))],
        samples=samples,
        requests=requests,
        rewritten=("items",),
    )
    text = render(done, Budget(1.0, 0, prod_rows=5_000))
    lines = text.splitlines()
    assert lines[0].startswith("revision r1: applied in 0.10 s (2 samples of pg_locks")
    assert lines[0].endswith("longest gap 50 ms, projected to 5,000 rows)")
    header, row = (re.split(r"\s{2,}", line.strip()) for line in lines[1:3])
    cells = dict(zip(header, row, strict=True))
    assert cells == {
        "table": "items",
        "strongest lock": "AccessExclusiveLock",
        "held s": "0.10",
        "rows": "1,000",
        "read": "yes",
        "rewritten": "yes",
        "p50/p99 before ms": "4.0/4.0",
        "p50/p99 during ms": "1500/1500",
        "longest ms": "1500",
        "failed": "1",
        "projected s": "0.5",  # within the budget: not a finding
    }
    assert f"  failed on items: 1 x {TIMEOUT}" in lines
    assert "    rehearse: write items: 2 samples, longest 0.04 s: INSERT" in lines
    assert lines[-1] == (
        "  over budget: items rewritten: its 1,000 rows copied under AccessExclusiveLock; "
        "1 requests waited over 1000 ms"
    )


def test_failed_requests_are_judged_over_the_whole_rehearsal() -> None:
    failing = [Request("write items", 10.02, 0.01, None, "duplicate key")] * 3
    done = report(rows={"items": 1000}, requests=failing)
    assert verdict([done], 100, Budget(1.0, 3))[0] == 0
    status, line = verdict([done], 100, Budget(1.0, 2))
    assert status == 1
    assert line == "rehearse: OVER BUDGET: 3 failed requests (budget: 2) (100 requests in all)"


def test_a_failed_revision_is_over_budget() -> None:
    done = report(rows={"items": 1000}, error="division by zero")
    assert render(done, BUDGET).splitlines()[-1] == "  over budget: the revision failed"
    assert verdict([done], 10, BUDGET)[1].startswith("rehearse: OVER BUDGET: revision r1 failed")


def test_a_deploy_time_revision_over_the_start_budget_is_told_to_be_post_deploy() -> None:
    """Replicas wait for a deploy-time revision on start; a post-deploy one runs after the
    rollout, so the same time is no finding there (its locks are still judged)."""
    slow = report(rows={"items": 0}, seconds=12.0)
    [finding] = findings(slow, BUDGET)
    assert finding.startswith("took 12.0 s, over the 10 s start budget")
    assert "make it a post-deploy revision (make revision msg=... post=1)" in finding
    assert findings(slow, Budget(1.0, 0, start_budget=15)) == []
    later = report(rows={"items": 0}, seconds=12.0, kind="post-deploy")
    assert findings(later, BUDGET) == []
    assert render(later, BUDGET).startswith("revision r1 (post-deploy): applied in 12.00 s")
