"""While serving: a database restart under traffic, and a graceful shutdown mid-request."""

import subprocess
import threading
import time

import requests

from harness.compose import BASE, Stack, create_item, probe_traffic, status
from harness.waiting import wait_until


def test_database_restart_under_traffic_fails_fast_then_recovers(running: Stack) -> None:
    item = create_item("steady")
    started_at = running.container("web")["State"]["StartedAt"]
    db_started_at = running.container("db")["State"]["StartedAt"]
    with probe_traffic(item["id"], writes=False, limit=90) as traffic:
        time.sleep(2)
        running.compose("restart", "db")
        running.compose("up", "-d", "--wait", "db")
        back = time.monotonic()
        time.sleep(8)
    results = traffic.stop()

    outcomes = {status(r) for r in results}
    assert outcomes <= {200, 503}, outcomes
    assert {r.outcome[1] for r in results if status(r) == 503} <= {"database_unavailable"}
    # PgBouncer queues a request while the database restarts, so a short outage may show
    # as requests that waited rather than as 503s: that the database did restart is read
    # from its container.
    assert running.container("db")["State"]["StartedAt"] != db_started_at, "no restart"
    slowest = max(r.seconds for r in results)
    assert slowest < 5, f"a request hung for {slowest:.1f}s during the outage"
    # Within 3 s of the database being healthy again, every request succeeds.
    after = [status(r) for r in results if r.start > back + 3]
    assert after and set(after) == {200}, after
    # Every worker recovered, not only the one the steady session happened to reach:
    # new connections land on any of them.
    fresh = [
        requests.get(f"{BASE}/api/probe/items/{item['id']}", timeout=5).status_code
        for _ in range(30)
    ]
    written = [
        requests.post(
            f"{BASE}/api/probe/items", json={"name": f"after restart {i}"}, timeout=5
        ).status_code
        for i in range(10)
    ]
    assert set(fresh) == {200} and set(written) == {201}, (fresh, written)
    assert running.container("web")["State"]["StartedAt"] == started_at
    assert running.container("web")["RestartCount"] == 0


def waiting_on_locks(stack: Stack) -> int:
    return int(stack.psql("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"))


def test_graceful_shutdown_finishes_in_flight_requests(running: Stack) -> None:
    create_item("slow")
    # Slow requests: /api/probe/locked reads through a row lock (FOR UPDATE), which queues
    # behind the table lock that this psql session holds until the test commits.
    locker = subprocess.Popen(
        [
            *running.base,
            "exec",
            "-T",
            "db",
            "psql",
            "-U",
            "app",
            "-d",
            "app",
            "-v",
            "ON_ERROR_STOP=1",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=running.env,
        text=True,
    )
    statuses: list[int | str] = []

    def slow_read() -> None:
        try:
            response = requests.get(f"{BASE}/api/probe/locked", timeout=30)
            statuses.append(response.status_code)
        except requests.RequestException as exc:
            statuses.append(type(exc).__name__)

    try:
        locker.stdin.write("BEGIN;\nLOCK TABLE probe_items IN EXCLUSIVE MODE;\n")
        locker.stdin.flush()
        wait_until(
            lambda: (
                running.psql(
                    "SELECT count(*) FROM pg_locks WHERE mode = 'ExclusiveLock' AND granted"
                    " AND relation = 'probe_items'::regclass"
                )
                == "1"
            ),
            "the table lock taken",
            timeout=20,
        )
        readers = [threading.Thread(target=slow_read) for _ in range(4)]
        for reader in readers:
            reader.start()
        wait_until(
            lambda: waiting_on_locks(running) >= 4,
            "the requests waiting in the database",
            timeout=20,
        )

        stopping = subprocess.Popen(
            [*running.base, "stop", "web"],
            env=running.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        stop_started = time.monotonic()
        time.sleep(1.5)
        try:
            late = requests.get(f"{BASE}/healthz", timeout=3).status_code
        except requests.RequestException as exc:
            late = type(exc).__name__
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        for reader in readers:
            reader.join(timeout=40)
        stopping.wait(timeout=60)
        stop_took = time.monotonic() - stop_started
    finally:
        if not locker.stdin.closed:
            locker.stdin.close()
        locker.wait(timeout=30)

    assert statuses == [200, 200, 200, 200]
    assert late != 200, "a new request was served after shutdown began"
    state = running.container("web")["State"]
    assert state["Status"] == "exited"
    assert state["ExitCode"] == 0
    assert stop_took < 30
    running.up()
