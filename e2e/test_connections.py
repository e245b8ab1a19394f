"""Connections: the stack under the load of a big host, and PgBouncer's faults.

The compose stack sends requests through PgBouncer (transaction pooling) and runs the
start-up step and migrations on PostgreSQL itself (MIGRATION_DATABASE_URL). Racing
replicas on a fresh database, with PgBouncer in front, are test_startup_faults.py's.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.compose import (
    BASE,
    PGBOUNCER_POOL,
    PROJECT,
    ROOT,
    Stack,
    create_item,
    probe_traffic,
    readable_folder,
    status,
)
from harness.wrk import wrk_summary

# The load: a 16-CPU host's default WEB_CONCURRENCY (2 x 16 + 1), 150 clients
# reading and 150 creating, for 20 s. E2E_LOAD_SECONDS shortens it while you iterate.
WORKERS = 33
READERS = WRITERS = 150
LOAD_SECONDS = int(os.environ.get("E2E_LOAD_SECONDS", "20"))
BENCH_IMAGE = f"{PROJECT}-bench:latest"
NETWORK = f"{PROJECT}_default"


def overlay(name: str, text: str) -> Path:
    path = readable_folder("e2e-connections-") / name
    path.write_text(text)
    return path


def wrk(url: str, connections: int, script: str | None = None) -> subprocess.Popen:
    """wrk in a container on the stack's network (no proxy between load and server). A
    script gets a tag unique to this run (bench/post.lua names its records with it)."""
    return subprocess.Popen(
        [
            *("docker", "run", "--rm", "--network", NETWORK, "--entrypoint", "wrk", BENCH_IMAGE),
            *("-t2", f"-c{connections}", f"-d{LOAD_SECONDS}s", "--latency", "--timeout", "30s"),
            *(["-s", script] if script else []),
            url,
            *(["--", f"e2e-{time.time_ns()}"] if script else []),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def server_connections(stack: Stack) -> int:
    """Client backends on PostgreSQL now (not its own background processes)."""
    return int(
        stack.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
    )


def owner_connects(stack: Stack) -> bool:
    """psql as the database owner (as `make psql` does): does it get in?"""
    try:
        return stack.psql("SELECT 1") == "1"
    except AssertionError:  # psql failed: "sorry, too many clients already"
        return False


@pytest.fixture
def big_host(running: Stack) -> Iterator[Stack]:
    """web with a 16-CPU host's default worker count; the usual web again afterwards."""
    subprocess.run(
        [
            *("docker", "build", "-q", "-t", BENCH_IMAGE),
            *(
                "--build-arg",
                f"PYTHON_IMAGE={os.environ.get('PYTHON_IMAGE') or 'python:3.13-slim'}",
            ),
            str(ROOT / "bench"),
        ],
        check=True,
        capture_output=True,
        timeout=900,
    )
    workers = overlay(
        "workers.yml", f"services:\n  web:\n    environment:\n      WEB_CONCURRENCY: '{WORKERS}'\n"
    )
    stack = running.with_overlay(workers)
    stack.up()
    yield stack
    running.up()


def test_a_big_hosts_workers_under_300_clients_get_no_error(big_host: Stack) -> None:
    item = create_item("load")
    readers = wrk(f"http://web:8000/api/probe/items/{item['id']}", READERS)
    writers = wrk("http://web:8000/api/probe/items", WRITERS, "/bench/post.lua")
    peak, owner = 0, []
    deadline = time.monotonic() + LOAD_SECONDS + 60
    while readers.poll() is None or writers.poll() is None:
        assert time.monotonic() < deadline, "wrk did not finish"
        peak = max(peak, server_connections(big_host))
        owner.append(owner_connects(big_host))
        time.sleep(1)
    read, write = (wrk_summary(p.communicate()[0]) for p in (readers, writers))
    print(f"\nload x{LOAD_SECONDS}s: reads {read}, creates {write}, peak server connections {peak}")
    assert read["non_2xx"] == 0 and write["non_2xx"] == 0, (read, write)
    assert read["socket_errors"] == "" and write["socket_errors"] == "", (read, write)
    assert read["requests"] > 0 and write["requests"] > 0
    assert owner and all(owner), owner
    # PgBouncer's pool and the reserve for psql and migrations: never the workers' 264.
    assert peak <= PGBOUNCER_POOL + 5, peak


def test_readyz_names_pgbouncer_when_it_is_down(running: Stack) -> None:
    running.compose("stop", "pgbouncer")
    try:
        response = requests.get(f"{BASE}/readyz", timeout=10)
    finally:
        running.compose("up", "-d", "--wait", "pgbouncer")
    assert response.status_code == 503
    assert response.json()["status"] == "unavailable"
    assert "pgbouncer:6432" in response.json()["reason"], response.json()
    running.wait_ready(timeout=30)


def test_pgbouncer_restart_under_traffic_fails_fast_then_recovers(running: Stack) -> None:
    item = create_item("through a pgbouncer restart")
    started_at = running.container("web")["State"]["StartedAt"]
    with probe_traffic(item["id"]) as traffic:
        time.sleep(2)
        running.compose("stop", "pgbouncer")
        time.sleep(3)  # away long enough to be seen
        running.compose("up", "-d", "--wait", "pgbouncer")
        back = time.monotonic()
        time.sleep(8)
    results = traffic.stop()
    statuses = {status(r) for r in results}
    assert statuses <= {200, 201, 503}, statuses
    assert 503 in statuses, "the outage was not observed"
    assert {r.outcome[1] for r in results if status(r) == 503} == {"database_unavailable"}
    # A request tries at most twice (its pooled connection, then a new one), each attempt
    # bounded by DB_CONNECT_TIMEOUT (3 s): one that began as PgBouncer stopped may spend
    # one timeout on it, then succeed or fail on the second. Nothing waits longer.
    slowest = max(results, key=lambda r: r.seconds)
    assert slowest.seconds < 2 * 3 + 1, f"a request hung while PgBouncer was away: {slowest}"
    # Within 5 s of PgBouncer being healthy again, every request succeeds.
    after = [status(r) for r in results if r.start > back + 5]
    assert after and set(after) <= {200, 201}, after
    assert running.container("web")["State"]["StartedAt"] == started_at
    assert running.container("web")["RestartCount"] == 0


# Runs in a one-off web container: the app's engine (through PgBouncer) reports the
# statement_timeout it runs under, then runs a query past it.
PAST_THE_TIMEOUT = """
import json
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from web.app import create_app
from web.app.db import db
app = create_app()
with app.app_context(), db.engine.connect() as connection:
    host = db.engine.url.host
    shown = connection.scalar(text("SHOW statement_timeout"))
    try:
        connection.execute(text("SELECT pg_sleep(3)"))
        code = None
    except OperationalError as exc:
        code = exc.orig.pgcode
print(json.dumps({"url": host, "shown": shown, "code": code}))
"""


def test_the_apps_statement_timeout_applies_through_pgbouncer(running: Stack) -> None:
    def start_up_with(**env: str) -> None:
        """The start-up step with `env`, then PgBouncer's server connections renewed."""
        result = running.run_web("python", "-m", "web.container.startup", **env)
        assert result.returncode == 0, result.stderr
        running.compose("restart", "pgbouncer")
        running.compose("up", "-d", "--wait", "pgbouncer")

    start_up_with(DB_STATEMENT_TIMEOUT_MS="700")
    try:
        result = running.run_web("python", "-c", PAST_THE_TIMEOUT)
    finally:
        start_up_with()  # the stack's own setting back
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen == {"url": "pgbouncer", "shown": "700ms", "code": "57014"}, seen
    running.wait_ready(timeout=30)
