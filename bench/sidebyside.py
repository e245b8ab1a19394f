"""`make bench against=<git ref>`: this tree and the code of another ref, side by side, in
the same rounds, so that a regression shows apart from the machine's noise.

The ref's web image is built from `git archive <ref>` (piped to this driver by the Makefile),
derived like web's (stack.derive), and run beside web on the same stack and database: the
ref must know the same revisions. Both are restarted with `docker restart`.
"""

import json
import os
import shutil
import sys
import tempfile
import time
from functools import partial
from statistics import median

from bench import SHORT, startup, throughput
from bench.report import print_rows
from bench.stack import (
    BASE_IMAGE,
    NETWORK,
    WEB,
    compose,
    derive,
    log,
    ready,
    run_beside,
    web_environment,
)
from harness.compose import PROJECT
from harness.swarm import IMAGE, sh

REF = os.environ.get("BENCH_AGAINST", "")
AGAINST = f"{PROJECT}-against"
ROUNDS = 1 if SHORT else 5
RESTARTS = 1 if SHORT else 7
TARGETS = {
    "healthz": ("/healthz", None),
    "read": (throughput.READ, None),
    "list": ("/api/probe/items?limit=20", None),
    "create": throughput.CREATE,
}
SIDES = ("ours", "theirs")


def build() -> None:
    """<project>-web:against, from the archive on stdin."""
    with tempfile.NamedTemporaryFile(suffix=".tar") as archive:
        shutil.copyfileobj(sys.stdin.buffer, archive)
        archive.flush()
        with open(archive.name, "rb") as context:
            sh(
                "docker", "build", "-q", "--target", "runtime", "--build-arg",
                f"PYTHON_IMAGE={BASE_IMAGE}", "-t", f"{IMAGE}:against-base", "-",
                stdin=context, timeout=1800,
            )  # fmt: skip
    derive(f"{IMAGE}:against-base", "against")


def urls(path: str) -> dict[str, str]:
    """`path` on web and on the ref's server."""
    return {"ours": f"{WEB}{path}", "theirs": f"http://{AGAINST}:8000{path}"}


def in_image(image: str, program: str, rounds: int) -> dict:
    """What bench.inside.<program> prints (JSON), in a one-off container of `image`."""
    out = sh(
        "docker", "run", "--rm", "--network", NETWORK, *web_environment(), "--entrypoint",
        "python", image, "-m", f"bench.inside.{program}", str(rounds), timeout=600,
    )  # fmt: skip
    return json.loads(out.splitlines()[-1])


def measure() -> dict:
    build()
    startup.cold_start()
    run_beside(AGAINST, *web_environment(), f"{IMAGE}:against")
    ready(urls("/readyz")["theirs"])
    startup.start_floor()
    web = compose("ps", "-q", "web").strip()
    containers = {"ours": web, "theirs": AGAINST}
    log(f"warm restarts x{RESTARTS}, each side, then the floor")
    restarts: dict[str, list[float]] = {"ours": [], "theirs": [], "floor": []}
    for _ in range(RESTARTS):
        for side, container in containers.items():
            restarting = partial(sh, "docker", "restart", container)
            restarts[side].append(startup.restart(restarting, urls("/readyz")[side]))
        restarts["floor"].append(startup.restart_floor())
    log(f"import time x{startup.IMPORT_ROUNDS}, each side")
    imports = {
        side: in_image(f"{IMAGE}:{tag}", "importtime", startup.IMPORT_ROUNDS)
        for side, tag in (("ours", "bench"), ("theirs", "against"))
    }
    log(f"throughput: {ROUNDS} round(s), each endpoint, each side")
    throughput.seed()
    load: dict[str, dict[str, list[dict]]] = {"ours": {}, "theirs": {}}
    for _ in range(ROUNDS):
        for name, (path, script) in TARGETS.items():
            for side, url in urls(path).items():
                figures = throughput.load(url, script, f"{side}-{time.time_ns()}")
                load[side].setdefault(name, []).append(figures)
    memory = {
        side: sh("docker", "exec", container, "python", "-m", "bench.inside.memory").splitlines()
        for side, container in containers.items()
    }
    return {"restarts": restarts, "imports": imports, "load": load, "memory": memory}


def pair(ours: list[float], theirs: list[float], unit: str, digits: int) -> tuple[str, str, str]:
    """Each side's median, and the median of the per-round ratios (ours over theirs)."""
    ratio = median(a / b for a, b in zip(ours, theirs, strict=True))
    return (
        f"{median(ours):.{digits}f}{unit}",
        f"{median(theirs):.{digits}f}{unit}",
        f"{ratio:.2f}",
    )


def rows(figures: dict) -> list[tuple[str, str, str, str]]:
    restarts, imports, load = figures["restarts"], figures["imports"], figures["load"]
    floor = f"{median(restarts['floor']):.2f} s"
    table = [
        ("warm restart to ready (`docker restart`)", *pair(restarts["ours"], restarts["theirs"], " s", 2)),
        ("  Docker's own restart of a bare server, same rounds", floor, "", ""),
    ]  # fmt: skip
    for case, label in (
        ("boot", "the start-up step alone, at head"),
        ("app", "gunicorn's master to the forks"),
    ):
        table.append((label, *pair(*(imports[s][case]["seconds"] for s in SIDES), " s", 3)))
        imported = ([us / 1e6 for us in imports[s][case]["import_us"]] for s in SIDES)
        table.append(("  of which imports", *pair(*imported, " s", 3)))
    for name in TARGETS:
        table.append(
            (f"{name}, req/s", *pair(*([r["rps"] for r in load[s][name]] for s in SIDES), "", 0))
        )
        table.append(
            (f"  {name}, p99", *pair(*([r["p99"] for r in load[s][name]] for s in SIDES), " ms", 1))
        )
    memory = [[tuple(map(int, line.split())) for line in figures["memory"][s]] for s in SIDES]
    worst = [f"{max(m[0] for m in side)} MB ({max(m[1] for m in side)} MB)" for side in memory]
    table.append(("memory per worker after load, RSS (PSS)", *worst, ""))
    return table  # fmt: skip


def print_report(figures: dict) -> None:
    print_rows(rows(figures), ("figure (medians)", "this tree", REF, "ratio, per round"))
    print(
        f"\nInterleaved: each round measures this tree, then {REF}. Ratios: this tree over"
        f" {REF}, the median of the per-round ratios. {os.cpu_count()} CPUs."
    )
