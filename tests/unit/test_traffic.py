"""The one traffic generator (web/ops/traffic.py): paced, bounded, every request recorded; and
the swarm's traffic summary built on it (harness/on_stack.py)."""

import itertools
import threading
import time

import pytest

from harness.on_stack import READ, WRITE, summary
from web.ops.traffic import Request, Traffic


def test_each_sender_keeps_its_rate_and_every_request_is_recorded() -> None:
    counts = {"a": itertools.count(1), "b": itertools.count(1)}
    traffic = Traffic({name: lambda n=n: next(n) for name, n in counts.items()}, rate=40, limit=60)
    with traffic:
        time.sleep(1)
    requests = traffic.stop()
    for name in ("a", "b"):
        mine = [r for r in requests if r.sender == name]
        assert 30 <= len(mine) <= 45, len(mine)  # 40 a second, for about a second
        assert [r.outcome for r in mine] == list(range(1, len(mine) + 1))
    assert [r.start for r in requests] == sorted(r.start for r in requests)


def test_an_exception_is_a_failed_request_and_the_sender_goes_on() -> None:
    calls = itertools.count()

    def flaky() -> str:
        if next(calls) % 2:
            raise ValueError("refused\nsecond line")
        return "ok"

    with Traffic({"flaky": flaky}, rate=100, limit=60) as traffic:
        time.sleep(0.3)
    requests = traffic.stop()
    assert {r.error for r in requests} == {None, "refused"}
    assert {r.outcome for r in requests if r.error} == {None}
    assert len(requests) >= 10


def test_a_custom_description_of_errors() -> None:
    def broken() -> None:
        raise ConnectionError

    with Traffic({"x": broken}, rate=50, limit=60, describe=lambda e: type(e).__name__) as t:
        time.sleep(0.1)
    assert {r.error for r in t.stop()} == {"ConnectionError"}


def test_the_limit_stops_it_without_stop() -> None:
    traffic = Traffic({"x": lambda: None}, rate=100, limit=0.3).start()
    time.sleep(0.8)
    count = len(traffic.requests)
    time.sleep(0.3)
    assert len(traffic.requests) == count <= 35  # nothing after the limit
    assert not any(thread.is_alive() for thread in threading.enumerate() if thread.name == "x")


def test_after_a_slow_request_no_burst_to_catch_up() -> None:
    calls = itertools.count()
    traffic = Traffic(
        {"x": lambda: time.sleep(0.5) if next(calls) == 0 else None}, rate=20, limit=60
    )
    with traffic:
        time.sleep(1.0)
    starts = [r.start for r in traffic.stop()]
    gaps = [b - a for a, b in itertools.pairwise(starts[1:])]
    assert gaps and min(gaps) > 0.04, gaps  # 50 ms apart: the 0.5 s lost is not made up
    assert len(starts) <= 1 + 0.5 * 20 + 2


def test_stop_waits_for_the_request_in_flight_at_most_join_timeout() -> None:
    traffic = Traffic({"x": lambda: time.sleep(2)}, rate=1, limit=60, join_timeout=0.2).start()
    time.sleep(0.05)
    started = time.monotonic()
    traffic.stop()
    assert time.monotonic() - started < 1


@pytest.mark.parametrize(("rate", "limit"), [(0, 1), (1, 0)])
def test_a_rate_or_limit_that_is_not_positive_is_refused(rate: float, limit: float) -> None:
    with pytest.raises(ValueError, match="must be positive"):
        Traffic({}, rate=rate, limit=limit)


def test_the_swarm_summary_counts_what_answered_as_expected() -> None:
    sent = [
        Request(READ, 0.0, 0.01, 200),
        Request(READ, 0.1, 0.01, 502),
        Request(WRITE, 0.2, 0.01, 201),
        Request(WRITE, 0.3, 10.0, None, "ReadTimeout"),
    ]
    assert summary(sent) == {
        "reads": 1,
        "writes": 1,
        "failures": ["GET /api/probe/items/1: 502", "POST /api/probe/items: ReadTimeout"],
    }
