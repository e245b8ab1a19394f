"""make bench, second part: the time of a 3-replica rolling deploy on Docker Swarm, under traffic.

Runs on the host, in make e2e's venv, with harness/swarm.py: a single-node swarm (left
afterwards if it was created here), deploy/stack.yml with the probe resource, then rolling
updates between two tags of the same image, each under steady reads and writes, timed from
`docker stack deploy` until swarm reports the update completed. A replica takes traffic
only once its /readyz passes. BENCH_SHORT=1 does one rollout instead of three.
"""

import subprocess

from bench import SHORT
from bench.report import print_rows, rollout_rows
from harness.swarm import (
    IMAGE,
    create_items,
    deploy_and_wait,
    release_with_probe,
    roll_out,
    swarm,
    update_state,
)

ROLLOUTS = 1 if SHORT else 3
GOAL_SECONDS = 15


def main() -> None:
    with swarm():
        release_with_probe("swarm-v1")
        subprocess.run(["docker", "tag", f"{IMAGE}:swarm-v1", f"{IMAGE}:swarm-v2"], check=True)
        deploy_and_wait("swarm-v1")
        create_items("first")  # the record the traffic reads
        runs = []
        for n in range(ROLLOUTS):
            summary = roll_out(f"swarm-v{2 - n % 2}")  # v2, v1, v2: each one an update
            runs.append({**summary, "state": update_state()})
    print_rows(rollout_rows(runs, GOAL_SECONDS))


if __name__ == "__main__":
    main()
