"""Steady traffic for a bounded time: a thread per sender, each calling its sender at a
steady rate and recording every request's start, duration, outcome and error.

The caller says what one request is (an SQL statement in make rehearse, an HTTP call in
e2e and the swarm harness); this module paces, bounds and records. Standard library,
Python 3.11+: e2e runs it on the host.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    sender: str  # the name the sender was given
    start: float  # time.monotonic()
    seconds: float
    outcome: object = None  # what the sender returned (a status, a row); None on an error
    error: str | None = None  # the exception it raised, described: a failed request


def first_line(exc: Exception) -> str:
    """An exception's first line, or its type's name when it has no message."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Traffic:
    """`senders`: name -> a callable that sends one request and returns its outcome; an
    exception is a failed request, described by `describe`. Each sender runs on a thread
    of its own, `rate` requests a second, from start() until stop() or `limit` seconds.

    A steady rate: the next request when it is due; after a slow one, at once, and from
    then on without a burst to catch up. A request's own time is bounded by the caller
    (an HTTP timeout, a statement_timeout): stop() waits at most `join_timeout` for it.
    """

    def __init__(
        self,
        senders: Mapping[str, Callable[[], object]],
        *,
        rate: float,
        limit: float,
        join_timeout: float = 30,
        describe: Callable[[Exception], str] = first_line,
    ) -> None:
        if rate <= 0 or limit <= 0:
            raise ValueError("rate and limit must be positive")
        self.rate, self.limit, self.join_timeout = rate, limit, join_timeout
        self.describe = describe
        self.requests: list[Request] = []  # appended by the threads, in the order they end
        self._stopping = threading.Event()
        self._deadline = 0.0
        self._threads = [
            threading.Thread(target=self._run, args=(name, send), name=name, daemon=True)
            for name, send in senders.items()
        ]

    def start(self) -> Traffic:
        self._deadline = time.monotonic() + self.limit
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> list[Request]:
        """Stop every sender (each finishes the request it is in); the requests, in order."""
        self._stopping.set()
        deadline = time.monotonic() + self.join_timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return sorted(self.requests, key=lambda request: request.start)

    def __enter__(self) -> Traffic:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self, name: str, send: Callable[[], object]) -> None:
        interval = 1 / self.rate
        due = time.monotonic()
        while not self._stopping.is_set() and time.monotonic() < self._deadline:
            start = time.monotonic()
            try:
                outcome, error = send(), None
            except Exception as exc:  # any failure is the request's, recorded, never fatal
                outcome, error = None, self.describe(exc)
            self.requests.append(Request(name, start, time.monotonic() - start, outcome, error))
            due = max(due + interval, time.monotonic())
            self._stopping.wait(max(0.0, min(due, self._deadline) - time.monotonic()))
