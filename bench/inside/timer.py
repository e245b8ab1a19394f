"""Times commands, interleaved, so that noise hits every command alike (migrate_step.py and
importtime.py use it, inside the web container)."""

import subprocess
import time


def time_commands(
    runs: int, commands: dict[str, list[str]], env: dict[str, str] | None = None
) -> dict[str, list[float]]:
    """{name: [seconds, ...]}: each command run `runs` times, one after the other."""
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):
        for name, command in commands.items():
            start = time.perf_counter()
            subprocess.run(command, check=True, capture_output=True, env=env, timeout=120)
            times[name].append(time.perf_counter() - start)
    return times
