"""The connection budget across replicas: 3 web replicas on Swarm, behind PgBouncer, rolled
over (start-first, so a fourth runs for a while) under load, with 0 failed requests and
PostgreSQL's connections never above the budget. The swarm, the stack and the helpers are
test_swarm.py's.
"""

import subprocess
import threading
from contextlib import ExitStack

from e2e.test_connections import POOL
from e2e.test_swarm import (  # noqa: F401 (swarm: that module's fixture, used here too)
    IMAGE,
    WEB,
    Traffic,
    all_ready,
    assert_all_replicas_on,
    deploy,
    on_network,
    psql,
    release_with_probe,
    roll_out,
    sh,
    swarm,
    update_state,
)
from tests.support import wait_until

# PgBouncer's pool (PGBOUNCER_POOL_SIZE) and the reserve for start-up, migrations and psql
# (DB_RESERVED_CONNECTIONS): what the README's budget lets PostgreSQL see.
BUDGET = POOL + 5
# Clients reading and writing, each in a container of its own, beside roll_out()'s own.
CLIENTS = 6


def server_connections() -> int:
    return int(psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))


def test_a_rolling_update_under_load_stays_within_the_connection_budget(swarm) -> None:  # noqa: F811
    release_with_probe("swarm-v1")
    # v2: the same code under a new tag, which is all a rolling update needs.
    subprocess.run(["docker", "tag", f"{IMAGE}:swarm-v1", f"{IMAGE}:swarm-v2"], check=True)
    deploy("swarm-v1")
    wait_until(
        lambda: (
            sh("docker", "service", "ls", "--filter", f"name={WEB}", "--format", "{{.Replicas}}")
            == "3/3"
        ),
        "v1 replicas running",
        timeout=240,
        interval=1,
    )
    wait_until(all_ready, "v1 replicas ready", timeout=120, interval=1)
    # The record the traffic reads (test_swarm.Traffic reads item 1).
    on_network(
        "import requests\n"
        "r = requests.post('http://tasks.web:8000/api/probe/items', json={'name': 'first'}, timeout=10)\n"
        "assert r.status_code == 201, r.text\n"
    )

    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.5):
            samples.append(server_connections())

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with ExitStack() as load:
            clients = [load.enter_context(Traffic()) for _ in range(CLIENTS)]
            summary = roll_out("swarm-v2")
    finally:
        done.set()
        sampler.join(timeout=30)
    failures = summary["failures"] + [f for c in clients for f in c.summary["failures"]]
    served = (
        summary["reads"]
        + summary["writes"]
        + sum(c.summary["reads"] + c.summary["writes"] for c in clients)
    )
    print(
        f"\n{served} requests during the rollout, {len(failures)} failed; "
        f"server connections at most {max(samples, default=0)}"
    )
    assert update_state() == "completed"
    assert failures == [], failures[:20]
    assert_all_replicas_on("swarm-v2")
    assert samples and max(samples) <= BUDGET, samples
