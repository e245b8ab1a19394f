"""The import time of the boot path and of the app.

    python -m bench.inside.importtime ROUNDS    (in a one-off web container: bench/stack.py)

The boot path is the start-up step as the entrypoint runs it (here at head); the app is
what gunicorn's master imports before it forks (gunicorn, its config, and
web.container.wsgi, which builds the app). Each runs ROUNDS times, interleaved with a bare
interpreter, for its wall time, then ROUNDS times under `python -X importtime`: microseconds
by top-level package (the standard library as one), medians. Prints JSON.
"""

import json
import statistics
import subprocess
import sys
from collections import Counter

from bench.inside.timer import time_commands

CASES = {
    "bare": ["-c", "pass"],
    "boot": ["-m", "web.container.startup"],
    "app": ["-c", "import gunicorn.app.wsgiapp, web.container.gunicorn_conf, web.container.wsgi"],
}
# How `python -X importtime` writes each module: `import time: SELF | CUMULATIVE | NAME`.
PREFIX = "import time:"


def by_package(report: str) -> Counter:
    """Microseconds spent importing each top-level package's own modules ("stdlib" for
    the standard library's), from the stderr of `python -X importtime`."""
    spent: Counter = Counter()
    for line in report.splitlines():
        if not line.startswith(PREFIX) or "self [us]" in line:
            continue
        own, _, name = line.removeprefix(PREFIX).split("|")
        package = name.strip().split(".")[0]
        if package in sys.stdlib_module_names or package.startswith("_"):
            package = "stdlib"
        spent[package] += int(own)
    return spent


def import_times(args: list[str]) -> Counter:
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    return by_package(result.stderr)


def main(rounds: int) -> dict:
    commands = {name: [sys.executable, *args] for name, args in CASES.items()}
    figures: dict = {
        name: {"seconds": seconds} for name, seconds in time_commands(rounds, commands).items()
    }
    for name in ("boot", "app"):
        runs = [import_times(CASES[name]) for _ in range(rounds)]
        figures[name]["import_us"] = [sum(run.values()) for run in runs]
        figures[name]["packages"] = {
            package: statistics.median(run[package] for run in runs)
            for package in set().union(*runs)
        }
    return figures


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]))))
