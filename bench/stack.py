"""The stack under test: a compose project of its own (harness.compose's PROJECT, `fabench`
in make bench) with no host port. This driver joins its network and wrk runs in a container
on it, so no proxy sits between load and server.

web runs the project's image plus the probe resource (harness/probe_resource.py), so that
the figures do not depend on the sample, and the programs of bench/inside/.
"""

import json
import os
import sys
import time

from harness.compose import PROJECT, ROOT, Stack, probe_files, readable_folder
from harness.swarm import IMAGE, release, sh
from harness.waiting import wait_ready

NETWORK = f"{PROJECT}_default"
DRIVER = f"{PROJECT}-driver"  # this container (the Makefile names it so)
WEB = "http://web:8000"
# web's image in bench/compose.bench.yml
TAG = "bench"
BASE_IMAGE = os.environ.get("PYTHON_IMAGE") or "python:3.13-slim"
BENCH_IMAGE = os.environ.get("BENCH_IMAGE", f"{PROJECT}-bench:latest")
STACK = Stack(ROOT / "e2e" / "compose.unpublished.yml", ROOT / "bench" / "compose.bench.yml")
# Containers started beside the stack, removed at the end.
beside: list[str] = []
_started = time.monotonic()


def log(message: str) -> None:
    print(f"bench: [{time.monotonic() - _started:5.0f} s] {message}", file=sys.stderr, flush=True)


def compose(*args: str, **kwargs) -> str:
    return STACK.compose(*args, **kwargs).stdout


def ready(url: str, timeout: float = 120) -> float:
    """Seconds until `url` answers 200, asked every 10 ms."""
    return wait_ready(url, timeout, interval=0.01)


def attach() -> None:
    sh("docker", "network", "connect", NETWORK, DRIVER, check=False)


def detach() -> None:
    sh("docker", "network", "disconnect", "-f", NETWORK, DRIVER, check=False)


def build_images() -> None:
    """The project's images, built afresh (from cache), and web's for the bench (derive)."""
    Stack().compose("--profile", "tools", "build", timeout=1800)
    derive(f"{IMAGE}:latest", TAG)


def derive(base: str, tag: str) -> None:
    """<project>-web:`tag`: `base` with the probe resource, its table's revision, and the
    programs of bench/inside/ (`python -m bench.inside.<name>` in /app)."""
    folder = readable_folder("bench-")
    files = {path.name: target for path, target in probe_files(folder).items()}
    programs = [ROOT / "bench" / "__init__.py", *sorted((ROOT / "bench" / "inside").glob("*.py"))]
    for program in programs:
        relative = program.relative_to(ROOT).as_posix()
        name = relative.replace("/", "__")
        (folder / name).write_text(program.read_text())
        files[name] = f"/app/{relative}"
    release(base, tag, folder, files)


def web_environment() -> list[str]:
    """`-e NAME=VALUE` for each variable compose gives web, for a container run beside it."""
    web = json.loads(compose("config", "--format", "json"))["services"]["web"]
    given = {name: value for name, value in web["environment"].items() if value is not None}
    return [arg for name, value in given.items() for arg in ("-e", f"{name}={value}")]


def start_server(name: str, *command: str, **env: str) -> None:
    """A one-off web container named `name` on the stack's network, serving on port 8000."""
    sh("docker", "rm", "-f", name, check=False)
    flags = [arg for key, value in env.items() for arg in ("-e", f"{key}={value}")]
    beside.append(name)
    compose("run", "-d", "--no-deps", "--name", name, *flags, "web", *command)
    ready(f"http://{name}:8000/readyz")


def run_beside(name: str, *args: str, files: dict[str, str] | None = None) -> None:
    """`docker run -d --name NAME ARGS...` (options, image, command) on the stack's network,
    with `files` (a file of this repository -> its path in the container) copied in first."""
    sh("docker", "rm", "-f", name, check=False)
    beside.append(name)
    sh("docker", "create", "--name", name, "--network", NETWORK, *args)
    for source, target in (files or {}).items():
        sh("docker", "cp", str(ROOT / source), f"{name}:{target}")
    sh("docker", "start", name)


def wrk(*args: str, check: bool = True) -> str:
    """wrk's output, run in a container on the stack's network."""
    command = ("docker", "run", "--rm", "--network", NETWORK, "--entrypoint", "wrk", BENCH_IMAGE)
    return sh(*command, *args, check=check)


def tear_down() -> None:
    """Every container the bench started, and the stack with its volumes."""
    if beside:
        sh("docker", "rm", "-f", *beside, check=False)
    detach()
    STACK.compose("down", "-v", "--remove-orphans", check=False)
