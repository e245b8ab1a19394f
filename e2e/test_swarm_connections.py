"""The connection budget across replicas: 3 web replicas on Swarm, behind PgBouncer, rolled
over (start-first, so a fourth runs for a while) under load, with 0 failed requests and
PostgreSQL's connections never above the budget. The swarm, the stack and the helpers are
harness/swarm.py.
"""

import subprocess
import threading
from contextlib import ExitStack

from harness.compose import PGBOUNCER_POOL
from harness.swarm import (
    IMAGE,
    Traffic,
    assert_all_replicas_on,
    create_items,
    deploy_and_wait,
    psql,
    release_with_probe,
    roll_out,
    update_state,
)

# PgBouncer's pool (PGBOUNCER_POOL_SIZE) and the reserve for start-up, migrations and psql
# (DB_RESERVED_CONNECTIONS): what the budget lets PostgreSQL see (docs/architecture.md).
BUDGET = PGBOUNCER_POOL + 5
# Clients reading and writing, each in a container of its own, beside roll_out()'s own.
CLIENTS = 6


def server_connections() -> int:
    return int(psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'"))


def test_a_rolling_update_under_load_stays_within_the_connection_budget(swarm: None) -> None:
    release_with_probe("swarm-v1")
    # v2: the same code under a new tag, which is all a rolling update needs.
    subprocess.run(["docker", "tag", f"{IMAGE}:swarm-v1", f"{IMAGE}:swarm-v2"], check=True)
    deploy_and_wait("swarm-v1")
    create_items("first")  # the record Traffic reads

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
