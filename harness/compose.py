"""The real stack, driven from the host with docker compose (e2e, bench, swarm).

The suites run as their own compose project (`fae2e` by default, E2E_PROJECT) on their
own port, so a developer's running stack is left alone. Its images are the project's own
(`<project>-web`, `<project>-tools`), built by compose from cache when missing.

The tests need traffic on a real table, but not the sample's (which `make remove-sample`
deletes): web gets the probe resource (harness/probe_resource.py) and its table's
revision, mounted on top of the code.
"""

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from functools import cache
from pathlib import Path

from harness.revisions import PROBE_MODULE, write_probe_revision
from harness.waiting import wait_ready
from web.base.revisions import code_revisions
from web.ops.traffic import Request, Traffic

ROOT = Path(__file__).resolve().parent.parent
PROJECT = os.environ.get("E2E_PROJECT", "fae2e")
PORT = int(os.environ.get("E2E_WEB_PORT", "18080"))
BASE = f"http://127.0.0.1:{PORT}"
# PgBouncer's server connections at most (pgbouncer/entrypoint.sh's default, or as set).
PGBOUNCER_POOL = int(os.environ.get("PGBOUNCER_POOL_SIZE") or 20)
# Where a container's image keeps the revision files.
VERSIONS = "/app/migrations/versions"
# The code's head revision (None on an empty history): the probe's revision goes on top.
CODE_HEAD = next(iter(code_revisions()[1]), None)


@cache
def caddy_env() -> dict[str, str]:
    """What deploy/Caddyfile needs from the environment for this machine's Caddy: an older
    Caddy's spelling of request buffering (deploy/caddy_request_buffering.sh), if any."""
    image = os.environ.get("CADDY_IMAGE")
    if not image or "CADDY_REQUEST_BUFFERING" in os.environ:
        return {}  # the official image the compose files name, or the caller's choice
    spelling = subprocess.run(
        ["sh", str(ROOT / "deploy" / "caddy_request_buffering.sh"), image],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout.strip()
    return {"CADDY_REQUEST_BUFFERING": spelling} if spelling else {}


def image(service: str) -> str:
    """The image compose builds for `service` in this project (docker-compose.yml names it)."""
    return f"{PROJECT}-{service}:latest"


def built_image(service: str) -> str:
    """image(service), built from cache first if it is missing (for tests that use it bare)."""
    found = subprocess.run(
        ["docker", "image", "inspect", image(service)], capture_output=True, check=False
    )
    if found.returncode != 0:
        Stack().compose("--profile", "tools", "build", service, timeout=1800)
    return image(service)


def readable_folder(prefix: str) -> Path:
    """A new temporary folder that the containers' user (10001) can read."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def mount_overlay(folder: Path, mounts: dict[Path, str]) -> Path:
    """A compose overlay in `folder` that bind-mounts each host file read-only into web."""
    lines = ["services:", "  web:", "    volumes:"]
    lines += [f"      - {source}:{target}:ro" for source, target in mounts.items()]
    overlay = folder / "overlay.yml"
    overlay.write_text("\n".join(lines) + "\n")
    return overlay


def probe_files(folder: Path) -> dict[Path, str]:
    """The probe resource and its table's revision, written into `folder`: each file
    and where it goes in the web image."""
    # A copy, not the checkout's file: the checkout's permissions may keep user 10001 out.
    module = folder / "probe.py"
    module.write_bytes(PROBE_MODULE.read_bytes())
    module.chmod(0o644)
    revision = write_probe_revision(folder, CODE_HEAD)
    return {module: "/app/web/api/probe.py", revision: f"{VERSIONS}/{revision.name}"}


def probe_overlay() -> Path:
    """The overlay that adds the probe resource and its table's revision to web."""
    folder = readable_folder("e2e-probe-")
    return mount_overlay(folder, probe_files(folder))


class Stack:
    """One compose project; every call is bounded in time."""

    def __init__(self, *overlays: Path, project: str = PROJECT) -> None:
        files = [ROOT / "docker-compose.yml", *overlays]
        self.base = [
            "docker",
            "compose",
            "-p",
            project,
            *(arg for f in files for arg in ("-f", str(f))),
        ]
        self.env = {
            **os.environ,
            **caddy_env(),
            "COMPOSE_PROJECT_NAME": project,
            "WEB_PORT": str(PORT),
        }

    def with_overlay(self, overlay: Path) -> "Stack":
        stack = Stack.__new__(Stack)
        stack.base, stack.env = [*self.base, "-f", str(overlay)], self.env
        return stack

    def compose(
        self, *args: str, check: bool = True, timeout: float = 300, **env: str
    ) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [*self.base, *args],
            cwd=ROOT,
            env={**self.env, **env},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, *args: str) -> None:
        self.compose("up", "-d", "--wait", "--wait-timeout", "180", *args)

    def down(self, volumes: bool = False) -> None:
        self.compose("down", "--remove-orphans", "--timeout", "30", *(["-v"] if volumes else []))

    def fresh(self) -> None:
        """A new, empty database volume and the stack up and ready."""
        self.down(volumes=True)
        self.up()

    def psql(self, sql: str) -> str:
        return self.compose(
            "exec", "-T", "db", "psql", "-U", "postgres", "-d", "app", "-tAc", sql
        ).stdout.strip()

    def psql_session(self) -> subprocess.Popen:
        """psql in db reading statements from its stdin (text): one session, held open until
        stdin is closed or the process ended. Write, then flush."""
        return subprocess.Popen(
            [
                *self.base,
                "exec",
                "-T",
                "db",
                "psql",
                "-U",
                "app_owner",
                "-d",
                "app",
                "-v",
                "ON_ERROR_STOP=1",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=self.env,
            text=True,
        )

    def run_web(self, *args: str, **env: str) -> subprocess.CompletedProcess:
        """A one-off web container (default command: start-up, then gunicorn), without deps."""
        flags = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
        return self.compose(
            "run", "--rm", "--no-deps", *flags, "web", *args, check=False, timeout=180
        )

    def container(self, service: str) -> dict:
        ids = self.compose("ps", "-a", "-q", service).stdout.split()
        assert len(ids) == 1, ids
        out = subprocess.run(
            ["docker", "inspect", ids[0]], capture_output=True, text=True, check=True
        )
        return json.loads(out.stdout)[0]

    def logs(self, service: str) -> str:
        return self.compose("logs", "--no-color", service).stdout

    def wait_ready(self, timeout: float = 90) -> float:
        """Seconds until /readyz answers 200; fails the test after `timeout`."""
        return wait_ready(f"{BASE}/readyz", timeout)


def run_make(
    *args: str, env: dict[str, str] | None = None, stdin: str = "", timeout: float = 300
) -> subprocess.CompletedProcess:
    """`make ARGS` in the repository, as a person runs it; bounded in time, output kept."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def make(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    """`make ARGS` in the checkout, on this suite's compose project and port."""
    env = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "WEB_PORT": str(PORT)}
    return run_make(*args, env=env, timeout=timeout)


def head_revision(stack: Stack) -> str:
    return stack.psql("SELECT version_num FROM alembic_version")


def error_lines(text: str) -> list[str]:
    """The start-up step's error lines as `error: <message>`, whether web logged JSON (the
    image's LOG_FORMAT) or text."""
    lines = []
    for raw in text.splitlines():
        line = raw
        if raw.startswith("{"):
            record = json.loads(raw)
            line = f"error: {record['message']}" if record.get("level") == "error" else ""
        if line.startswith("error:"):
            lines.append(line)
    return lines


def create_item(name: str) -> dict:
    """A new probe item, through the API."""
    import requests  # here: the bench's driver has no requests, and does not call this

    response = requests.post(f"{BASE}/api/probe/items", json={"name": name}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


def item_names() -> list[str]:
    """Every probe item's name, in id order, through the API's pages."""
    import requests

    names: list[str] = []
    after = 0
    for _ in range(100):  # bounded: 10,000 items is more than any test writes
        page = requests.get(f"{BASE}/api/probe/items?limit=100&after={after}", timeout=10).json()
        names += [item["name"] for item in page["items"]]
        after = page["next_after"]
        if after is None:
            return names
    raise AssertionError("pagination did not end")


def probe_traffic(item_id: int, *, writes: bool = True, limit: float = 120) -> Traffic:
    """Steady reads of a probe item, and creates, through the stack's port, for the length of
    a `with` block: a request's outcome is (status, the error slug of a 4xx or 5xx)."""
    import requests  # here: the bench's driver has no requests, and does not call this

    def sender(method: str, path: str, body: Callable[[], dict] | None) -> Callable[[], tuple]:
        session = requests.Session()  # one per sender: a session is not shared between threads

        def send() -> tuple[int, str]:
            response = session.request(
                method, BASE + path, json=body() if body else None, timeout=10
            )
            slug = response.json().get("error", "") if response.status_code >= 400 else ""
            return response.status_code, slug

        return send

    senders = {"read": sender("GET", f"/api/probe/items/{item_id}", None)}
    if writes:
        senders["create"] = sender(
            "POST", "/api/probe/items", lambda: {"name": f"steady {time.time_ns()}"}
        )
    return Traffic(senders, rate=25, limit=limit, describe=lambda exc: type(exc).__name__)


def status(request: Request) -> int | str:
    """A request's HTTP status, or the type of the exception it ended in."""
    return request.outcome[0] if request.error is None else request.error
