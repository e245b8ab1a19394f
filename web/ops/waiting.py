"""Waiting for something to happen, bounded in time: the one readiness wait of the project
(make compat, and through harness/waiting.py the tests, e2e and bench). Standard library,
Python 3.11+: e2e runs it on the host."""

import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

# Old-style generics: the host's Python may predate 3.12.
T = TypeVar("T")


def wait_until(  # noqa: UP047
    condition: Callable[[], T], what: str, timeout: float = 30, interval: float = 0.1
) -> T:
    """The first truthy value of `condition()`; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


def answers(url: str, timeout: float = 2) -> bool:
    """True when `url` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (our own URLs)
            return response.status == 200
    except OSError:
        return False


def wait_ready(url: str, timeout: float = 120, interval: float = 0.1) -> float:
    """Seconds until `url` answers 200; fails after `timeout`."""
    started = time.monotonic()
    wait_until(lambda: answers(url), f"{url} answering 200", timeout, interval)
    return time.monotonic() - started
