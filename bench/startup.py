"""Start-up: cold start, warm restart beside Docker's own (the floor), the migration step, and
the import time of the boot path and of the app."""

import json
import time
from collections.abc import Callable
from typing import Any

from bench import SHORT
from bench.stack import BASE_IMAGE, WEB, attach, compose, detach, ready, run_beside
from harness.compose import PROJECT
from harness.swarm import sh

# BENCH_SHORT (CI): once each, which keeps every step working.
COLD_STARTS = 1 if SHORT else 3
RESTARTS = 1 if SHORT else 7
MIGRATE_RUNS = 1 if SHORT else 9
IMPORT_ROUNDS = 1 if SHORT else 7
# The floor under a warm restart: Docker restarting a bare Python HTTP server on the same
# network, killed at once (SIGKILL), in the same rounds as web's restarts.
FLOOR = f"{PROJECT}-floor"
FLOOR_URL = f"http://{FLOOR}:8000/"


def cold_start() -> tuple[float, float]:
    """(seconds until the database is healthy, until /readyz is 200), from a fresh volume."""
    detach()
    compose("down", "-v", "--remove-orphans")
    start = time.monotonic()
    compose("up", "-d")  # returns once db is healthy and web has started
    db_ready = time.monotonic() - start
    attach()
    ready(f"{WEB}/readyz")
    return db_ready, time.monotonic() - start


def restart(action: Callable[[], object], url: str) -> float:
    """Seconds from the start of `action` until `url` answers 200."""
    start = time.monotonic()
    action()
    ready(url, timeout=60)
    return time.monotonic() - start


def start_floor() -> None:
    run_beside(FLOOR, "--stop-signal", "SIGKILL", BASE_IMAGE, "python", "-m", "http.server", "8000")
    ready(FLOOR_URL, timeout=30)


def restart_floor() -> float:
    return restart(lambda: sh("docker", "restart", FLOOR), FLOOR_URL)


def restarts_beside_the_floor() -> dict[str, list[float]]:
    """RESTARTS warm restarts of web (`docker compose restart web`), each followed by one of
    the floor."""
    start_floor()
    webs, floors = [], []
    for _ in range(RESTARTS):
        webs.append(restart(lambda: compose("restart", "web"), f"{WEB}/readyz"))
        floors.append(restart_floor())
    return {"web": webs, "floor": floors}


def in_web(program: str, *args: str) -> Any:
    """What bench.inside.<program> prints (JSON), run in a one-off web container."""
    out = compose(
        "run", "--rm", "--no-deps", "-T", "--entrypoint", "python", "web",
        "-m", f"bench.inside.{program}", *args, timeout=600,
    )  # fmt: skip
    return json.loads(out.strip().splitlines()[-1])


def migrate_step() -> dict[str, list[float]]:
    """Warm start (database at head): the entrypoint's step, plain Alembic, Flask-Migrate."""
    return in_web("migrate_step", str(MIGRATE_RUNS))


def import_times() -> dict[str, dict]:
    """The boot path's and the app's wall time and import time (bench/inside/importtime.py)."""
    return in_web("importtime", str(IMPORT_ROUNDS))
