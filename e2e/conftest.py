"""Fixtures of the e2e suite: the real stack, as its own compose project (harness/compose.py)."""

from collections.abc import Iterator

import pytest

from harness import swarm as swarm_helpers
from harness.compose import Stack, probe_overlay

SWARM_MODULES = ("test_swarm.py", "test_swarm_connections.py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The swarm modules last: after a swarm is left, this engine's (Docker 20.10) older
    compose networks may stop resolving names, which the compose suites rely on."""
    items.sort(key=lambda item: item.path.name in SWARM_MODULES)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    stack = Stack(probe_overlay())
    stack.fresh()
    yield stack
    stack.down(volumes=True)


@pytest.fixture
def running(stack: Stack) -> Stack:
    """The stack up and ready (tests that break it restore it themselves or leave it to this)."""
    stack.up()
    return stack


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    """A single-node swarm for the module's tests, torn down after them (harness/swarm.py)."""
    with swarm_helpers.swarm():
        yield
