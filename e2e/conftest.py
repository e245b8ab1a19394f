"""The real stack, driven from the host with docker compose.

The suite runs as its own compose project (`fae2e` by default) on its own
port, so a developer's running stack is left alone. Images are whatever
`make build` (or the first `up`) made: nothing here rebuilds them.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
PROJECT = os.environ.get("E2E_PROJECT", "fae2e")
PORT = int(os.environ.get("E2E_WEB_PORT", "18080"))
BASE = f"http://127.0.0.1:{PORT}"


class Stack:
    """One compose project; every call is bounded in time."""

    def __init__(self, *overlays: Path) -> None:
        files = [ROOT / "docker-compose.yml", *overlays]
        self.base = [
            "docker",
            "compose",
            "-p",
            PROJECT,
            *(arg for f in files for arg in ("-f", str(f))),
        ]
        self.env = {**os.environ, "WEB_PORT": str(PORT)}

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
            "exec", "-T", "db", "psql", "-U", "app", "-d", "app", "-tAc", sql
        ).stdout.strip()

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
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            try:
                if requests.get(f"{BASE}/readyz", timeout=2).status_code == 200:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"/readyz not 200 within {timeout}s")


def head_revision(stack: Stack) -> str:
    return stack.psql("SELECT version_num FROM alembic_version")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("error:")]


def create_project(name: str) -> dict:
    response = requests.post(f"{BASE}/api/projects", json={"name": name}, timeout=10)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    stack = Stack()
    stack.fresh()
    yield stack
    stack.down(volumes=True)


@pytest.fixture
def running(stack: Stack) -> Stack:
    """The stack up and ready (tests that break it restore it themselves or leave it to this)."""
    stack.up()
    return stack
