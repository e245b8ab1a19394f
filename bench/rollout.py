"""make bench, second part: the time of a 3-replica rolling deploy on Docker Swarm, under traffic.

Runs on the host, in make e2e's venv, with the swarm helpers of harness/swarm.py: a
single-node swarm (left afterwards if it was created here), deploy/stack.yml with
the probe resource, then rolling updates between two tags of the same image, each
under steady reads and writes, timed from `docker stack deploy` until swarm reports
the update completed. A replica takes traffic only once its /readyz passes.
BENCH_SHORT=1 does one rollout instead of three.
"""

import os
import statistics
import subprocess

from bench.table import check, print_rows
from harness.swarm import (
    IMAGE,
    create_items,
    deploy_and_wait,
    release_with_probe,
    roll_out,
    swarm,
    update_state,
)

ROLLOUTS = 1 if os.environ.get("BENCH_SHORT") == "1" else 3
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
    seconds = statistics.median(run["seconds"] for run in runs)
    failed = sum(len(run["failures"]) for run in runs)
    each = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    completed = sum(run["state"] == "completed" for run in runs)
    served = sum(run["reads"] + run["writes"] for run in runs)
    print_rows(
        [
            (
                f"rolling deploy on swarm, 3 replicas (median of {ROLLOUTS})",
                f"{seconds:.1f} s ({each})",
                f"<= {GOAL_SECONDS} s",
                check(seconds <= GOAL_SECONDS),
            ),
            ("  failed requests during it", f"{failed} of {served}", "0", check(failed == 0)),
            (
                "  updates completed (not rolled back)",
                f"{completed} of {ROLLOUTS}",
                str(ROLLOUTS),
                check(completed == ROLLOUTS),
            ),
        ]
    )


if __name__ == "__main__":
    main()
