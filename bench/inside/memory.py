"""Prints `RSS PSS` (MB) of each gunicorn worker in this container, one a line.

    python -m bench.inside.memory    (in the web container: bench/stack.py)

A worker is a gunicorn process whose parent is the master, PID 1.
"""

import os
from pathlib import Path


def kilobytes(text: str, field: str) -> int:
    """The value of `field:` (in kB) in a /proc status or smaps_rollup text."""
    line = next(line for line in text.splitlines() if line.startswith(f"{field}:"))
    return int(line.split()[1])


def main() -> None:
    for pid in filter(str.isdigit, os.listdir("/proc")):
        proc = Path("/proc", pid)
        try:
            status = (proc / "status").read_text()
            command = (proc / "cmdline").read_text()
            rollup = (proc / "smaps_rollup").read_text()
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if "gunicorn" in command and kilobytes(status, "PPid") == 1:
            print(kilobytes(status, "VmRSS") // 1024, kilobytes(rollup, "Pss") // 1024)


if __name__ == "__main__":
    main()
