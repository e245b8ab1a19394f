"""`make upgrade` under traffic, for e2e/test_upgrade.py and bench/upgrade.py.

The suite's stack behind Caddy (harness/proxy.py), steady reads and writes through it over
HTTPS from the host, each with a request id of its own, and every web container's log
followed from the moment it runs, so that after an upgrade each request can be traced to
the container that answered it.
"""

import json
import subprocess
import threading
import time

import requests

from harness.compose import PROJECT, ROOT, VERSIONS, Stack, built_image, readable_folder
from harness.proxy import HTTPS
from harness.revisions import write_revision

IMAGE = f"{PROJECT}-web"
POST_DEPLOY = "/app/migrations/post_deploy"


def release(
    tag: str,
    base: str | None = None,
    deploy: dict[str, tuple] | None = None,
    post: dict[str, tuple] | None = None,
) -> str:
    """A web image `tag`: `base` (default: the suite's web image) plus revision files:
    deploy-time ones {revision: (down_revision, upgrade body)}, and post-deploy ones
    {revision: (down_revision, upgrade body, the deploy-time revision it needs)}."""
    folder = readable_folder("e2e-upgrade-")
    copies = []
    for revision, (down, body) in (deploy or {}).items():
        path = write_revision(folder, revision, down, body)
        copies.append(f"COPY {path.name} {VERSIONS}/{path.name}\n")
    for revision, (down, body, needs) in (post or {}).items():
        path = write_revision(folder, revision, down, body, needs=needs)
        copies.append(f"COPY {path.name} {POST_DEPLOY}/{path.name}\n")
    (folder / "Dockerfile").write_text(f"FROM {base or built_image('web')}\n{''.join(copies)}")
    image = f"{IMAGE}:{tag}"
    subprocess.run(
        ["docker", "build", "-q", "-t", image, str(folder)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return image


def make(stack: Stack, *args: str, **env: str) -> subprocess.CompletedProcess:
    """`make <args>` in the checkout, on the host, against the suite's compose project."""
    return subprocess.run(
        ["make", "-s", *args],
        cwd=ROOT,
        env={**stack.env, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def upgrade(stack: Stack, tag: str) -> subprocess.CompletedProcess:
    """make upgrade build=0, to the image tagged `tag`."""
    return make(stack, "upgrade", "build=0", WEB_TAG=tag)


def web_containers(stack: Stack) -> list[str]:
    return stack.compose("ps", "-q", "web").stdout.split()


class Logs:
    """Each web container's log, followed from now until the container is gone."""

    def __init__(self) -> None:
        self.followers: dict[str, subprocess.Popen] = {}

    def follow(self, stack: Stack) -> None:
        for container in web_containers(stack):
            if container not in self.followers:
                self.followers[container] = subprocess.Popen(
                    ["docker", "logs", "-f", container],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )

    def served(self) -> dict[str, set[str]]:
        """Container -> the request ids it answered (its access lines), once each has ended
        or after 10 s."""
        answered = {}
        for container, follower in self.followers.items():
            try:
                out, _ = follower.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                follower.kill()
                out, _ = follower.communicate()
            answered[container] = {
                line["request_id"]
                for line in map(parse, out.splitlines())
                if line.get("logger") == "web.access" and line.get("request_id")
            }
        return answered


def parse(line: str) -> dict:
    try:
        parsed = json.loads(line)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


class Traffic:
    """Reads, writes and pages through Caddy from the host, on `clients` threads, each
    request with an id of its own (X-Request-ID), for the length of a block (at most 10
    minutes). `answers`: request id -> status, or the error."""

    def __init__(self, ca: str, clients: int = 3) -> None:
        self.ca = ca
        self.clients = clients
        self.answers: dict[str, int | str] = {}
        self.stop = threading.Event()

    def __enter__(self) -> "Traffic":
        created = requests.post(
            f"{HTTPS}/api/probe/items",
            json={"name": f"read me {time.time_ns()}"},
            verify=self.ca,
            timeout=10,
        )
        assert created.status_code == 201, created.text
        self.read = f"/api/probe/items/{created.json()['id']}"
        self.threads = [
            threading.Thread(target=self.client, args=(n,), daemon=True)
            for n in range(self.clients)
        ]
        for thread in self.threads:
            thread.start()
        time.sleep(2)
        return self

    def client(self, n: int) -> None:
        session = requests.Session()
        deadline = time.monotonic() + 600
        i = 0
        while not self.stop.is_set() and time.monotonic() < deadline:
            i += 1
            request_id = f"t{n}-{i}"
            method, path, body = (
                ("GET", self.read, None),
                ("POST", "/api/probe/items", {"name": f"upgrade {n} {i} {time.time_ns()}"}),
                ("GET", "/api/probe/items?limit=5", None),
            )[i % 3]
            try:
                response = session.request(
                    method,
                    HTTPS + path,
                    json=body,
                    headers={"X-Request-ID": request_id},
                    verify=self.ca,  # per request: REQUESTS_CA_BUNDLE would override a session's
                    timeout=10,
                )
                self.answers[request_id] = response.status_code
            except requests.RequestException as exc:
                self.answers[request_id] = type(exc).__name__
            time.sleep(0.02)

    def __exit__(self, *exc: object) -> None:
        time.sleep(1)
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    @property
    def failures(self) -> dict[str, int | str]:
        return {rid: answer for rid, answer in self.answers.items() if answer not in (200, 201)}
