"""make bench, the one-host upgrade: `make upgrade` behind Caddy, timed, under steady traffic.

Runs on the host, in make e2e's venv, with the helpers of harness/upgrade.py: the suite's
stack behind Caddy, then upgrades between two tags of the same image (no migration), each
under steady reads, writes and pages over HTTPS, timed from the new image built (so the
build itself is left out) to the old container gone, as web/ops/upgrade.py reports it;
every request that did not succeed is counted. BENCH_SHORT=1 does one upgrade instead of
three. `main()` returns the table's rows, for a caller that prints one table.
"""

import re
import statistics
import subprocess

from bench import SHORT
from bench.report import Row, check, print_rows
from harness.compose import Stack, built_image, probe_overlay
from harness.proxy import behind_the_proxy, caddy_ca
from harness.upgrade import IMAGE, Traffic, upgrade

UPGRADES = 1 if SHORT else 3
GOAL_SECONDS = 10
TAGS = ("bench-upgrade-a", "bench-upgrade-b")


def measure() -> list[dict]:
    for tag in TAGS:
        subprocess.run(["docker", "tag", built_image("web"), f"{IMAGE}:{tag}"], check=True)
    stack = Stack(probe_overlay())
    stack.fresh()
    runs = []
    try:
        with behind_the_proxy(stack, restore=False) as proxied:
            ca = caddy_ca(proxied)
            for n in range(UPGRADES):
                with Traffic(ca) as traffic:
                    result = upgrade(proxied, TAGS[n % 2])
                gone = re.search(r"the old ones gone ([\d.]+) s after", result.stderr)
                runs.append(
                    {
                        "ok": result.returncode == 0 and gone is not None,
                        "seconds": float(gone.group(1)) if gone else float("nan"),
                        "answers": len(traffic.answers),
                        "failed": len(traffic.failures),
                        "output": result.stderr,
                    }
                )
    finally:
        stack.down(volumes=True)
        subprocess.run(["docker", "rmi", *(f"{IMAGE}:{tag}" for tag in TAGS)], check=False)
    return runs


def main() -> list[Row]:
    runs = measure()
    for run in runs:
        if not run["ok"]:
            print(run["output"])
    seconds = statistics.median(run["seconds"] for run in runs)
    each = ", ".join(f"{run['seconds']:.1f}" for run in runs)
    failed = sum(run["failed"] for run in runs)
    answered = sum(run["answers"] for run in runs)
    return [
        (
            f"make upgrade behind Caddy, no migration (median of {UPGRADES})",
            f"{seconds:.1f} s ({each})",
            f"<= {GOAL_SECONDS} s",
            check(seconds <= GOAL_SECONDS and all(run["ok"] for run in runs)),
        ),
        ("  failed requests during it", f"{failed} of {answered}", "0", check(failed == 0)),
    ]


if __name__ == "__main__":
    print_rows(main())
