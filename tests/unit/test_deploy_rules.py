"""The deploy's rules, checked in the files that state them: a replica's healthcheck window is
longer than its start-up step may take; post-deploy revisions run only when every running
image holds them; make upgrade's pinned upstreams use the app's port."""

import re

from web.base.config import load_settings
from web.base.paths import ROOT
from web.base.revisions import applied, pending
from web.ops.orchestrator import runnable

DEFAULTS = load_settings({"DATABASE_URL": "postgresql://u@h/d", "SECRET_KEY": "k"})
# Seconds for the app's import and gunicorn's start, on top of the start-up step.
BOOT = 10


def seconds(value: str) -> float:
    """A compose duration ("90s", "1m30s", or "${VAR:-90s}": its default)."""
    value = re.sub(r"^\$\{\w+:-(.+)\}$", r"\1", str(value))
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|s|m|h)", value)
    assert parts, value
    unit = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}
    return sum(float(number) * unit[suffix] for number, suffix in parts)


def window(text: str, after: str) -> float:
    """How long a container may fail its healthcheck from its start before it is declared
    unhealthy: the start period, then `retries` failures `interval` apart (the first
    healthcheck block after `after` in a compose file's text)."""
    block = text.split(after, 1)[1].split("healthcheck", 1)[1][:400]
    field = dict(re.findall(r"^\s+(interval|retries|start_period): (\S+)$", block, re.M))
    return seconds(field["start_period"]) + int(field["retries"]) * seconds(field["interval"])


START_UP = DEFAULTS.db_wait_timeout + DEFAULTS.migrate_on_start_timeout + BOOT


def test_swarm_never_kills_a_replica_while_its_start_up_step_may_run() -> None:
    """The rule: DB_WAIT_TIMEOUT + MIGRATE_ON_START_TIMEOUT + boot < the healthcheck window;
    past its timeout the start-up step itself stops its migration cleanly and exits 1."""
    stack = (ROOT / "deploy" / "stack.yml").read_text()
    assert DEFAULTS.migrate_on_start_timeout > 0
    assert START_UP < window(stack, "x-healthcheck: &web-healthcheck\n") == 106
    assert "healthcheck: *web-healthcheck" in stack.split("\n  web:\n", 1)[1].split("\n  proxy:")[0]


def test_compose_waits_for_the_start_up_step_too() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    assert window(compose, "\n  web:\n") > START_UP


def test_post_deploy_revisions_run_only_as_far_as_every_running_image_holds_them() -> None:
    code = {"a": (), "b": ("a",), "c": ("b",)}
    everywhere = {"new": code, "also new": code}
    assert runnable(code, everywhere) == (["c"], {})
    # An older image lacks c: c waits, a and b may run.
    assert runnable(code, {"new": code, "old": {"a": (), "b": ("a",)}}) == (["b"], {"old": ["c"]})
    # One from before any post-deploy revision: nothing may run.
    assert runnable(code, {"new": code, "oldest": {}}) == ([], {"oldest": ["a", "b", "c"]})


def test_applied_and_pending_revisions() -> None:
    graph = {"a": (), "b": ("a",), "c": ("b",)}
    assert applied(graph, ("b",)) == {"a", "b"}
    assert pending(graph, ("b",)) == ["c"]
    assert pending(graph, ()) == ["a", "b", "c"]
    assert pending(graph, ("zzz",)) == []  # a database ahead of this code
