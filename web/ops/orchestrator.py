"""What runs, as Docker records it: a compose project's containers, a swarm service's tasks,
and the post-deploy revisions each one's image holds. For make upgrade, make post-migrate and
make deploy, on the host (python3, standard library only, 3.11 and later).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass

from web.base.revisions import UnreadableRevision, applied, heads_of, parse_revision

# Where the image keeps its post-deploy revisions (web/base/paths.py's, inside /app).
POST_DEPLOY_IN_IMAGE = "/app/migrations/post_deploy"
Graph = dict[str, tuple[str, ...]]


class OpsError(Exception):
    """One line for the operator, naming what is wrong."""


def say(tool: str, message: str) -> None:
    print(f"{tool}: {message}", file=sys.stderr, flush=True)


def command_line(tool: str, doc: str | None) -> argparse.ArgumentParser:
    return argparse.ArgumentParser(prog=tool, description=(doc or "").split("\n\n")[0])


def outcome(tool: str, work: Callable[[], int]) -> int:
    """`work()`'s exit status; an OpsError is one line, and 1."""
    try:
        return work()
    except OpsError as exc:
        say(tool, f"error: {exc}")
        return 1


def run(*args: str, timeout: float = 120, check: bool = True, **kwargs) -> str:
    """A command's stdout; its stderr in the error when it fails and `check`."""
    try:
        result = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
        )
    except subprocess.TimeoutExpired:
        raise OpsError(f"{' '.join(args[:4])} ...: no answer within {timeout:g} s") from None
    if check and result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise OpsError(f"{' '.join(args[:4])} ... failed: {last}")
    return result.stdout.strip()


def succeeds(*args: str, timeout: float = 30) -> bool:
    """True when the command exits 0 within `timeout`."""
    try:
        return (
            subprocess.run(args, capture_output=True, timeout=timeout, check=False).returncode == 0
        )
    except subprocess.TimeoutExpired:
        return False


def logs(container: str, tail: int = 200) -> str:
    """A container's log, both streams, its last `tail` lines."""
    result = subprocess.run(
        ["docker", "logs", "--tail", str(tail), container],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return result.stdout + result.stderr


def inspect(*ids: str) -> list[dict]:
    """What Docker records of each of `ids` that still exists: one listed a moment ago may be
    gone (a task swarm pruned from its history, a container removed), and has ended."""
    try:
        return json.loads(run("docker", "inspect", *ids)) if ids else []
    except OpsError as exc:
        if "No such object" not in str(exc):
            raise
        return [] if len(ids) == 1 else [found for one in ids for found in inspect(one)]


@dataclass
class Project:
    """A compose project, as its running web containers record it: the same name, files and
    folder as the `up` that started it, so that what follows changes that stack and no other."""

    name: str
    files: list[str]
    folder: str

    @classmethod
    def running(cls) -> Project:
        """The project `docker compose` names here (COMPOSE_FILE, .env and the folder, as
        every make target), read from its running web containers."""
        found = inspect(*run("docker", "compose", "ps", "-q", "--status", "running", "web").split())
        if not found:
            raise OpsError("no web container of this compose project runs: start it first")
        labels = found[0]["Config"]["Labels"]
        return cls(
            name=labels["com.docker.compose.project"],
            files=labels["com.docker.compose.project.config_files"].split(","),
            folder=labels["com.docker.compose.project.working_dir"],
        )

    def command(self, *args: str) -> list[str]:
        files = [arg for path in self.files for arg in ("-f", path)]
        return [
            "docker",
            "compose",
            "-p",
            self.name,
            "--project-directory",
            self.folder,
            *files,
            *args,
        ]

    def compose(self, *args: str, timeout: float = 300) -> str:
        env = {**os.environ, "COMPOSE_PROJECT_NAME": self.name}
        return run(*self.command(*args), timeout=timeout, env=env)

    def containers(self, service: str, one_offs: bool = False) -> list[dict]:
        """The service's running containers (docker inspect), oldest first; with `one_offs`,
        `docker compose run`'s too."""
        labels = [
            f"com.docker.compose.project={self.name}",
            f"com.docker.compose.service={service}",
        ]
        if not one_offs:
            labels.append("com.docker.compose.oneoff=False")
        ids = run("docker", "ps", "-q", *(f"--filter=label={label}" for label in labels))
        return sorted(inspect(*ids.split()), key=lambda c: c["Created"])

    def image(self, service: str) -> str:
        """The image the service's definition names (what a new container would run)."""
        services = json.loads(self.compose("config", "--format", "json"))["services"]
        return services[service]["image"]


def name(container: dict) -> str:
    return container["Name"].lstrip("/")


def post_revisions(image: str) -> Graph:
    """The post-deploy revisions `image` holds, read from its files without running it (an
    image from before post-deploy revisions holds none)."""
    created = run("docker", "create", image)
    try:
        archive = subprocess.run(
            ["docker", "cp", f"{created}:{POST_DEPLOY_IN_IMAGE}", "-"],
            capture_output=True,
            timeout=60,
            check=False,
        )
    finally:
        run("docker", "rm", "-f", created, check=False)
    if archive.returncode != 0:
        return {}
    graph: Graph = {}
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        for member in tar.getmembers():
            if member.isfile() and member.name.endswith(".py"):
                data = tar.extractfile(member)
                text = data.read().decode() if data else ""
                try:
                    revision, down = parse_revision(text, member.name)
                except UnreadableRevision:
                    raise OpsError(f"{image}: cannot read {member.name}") from None
                graph[revision] = down
    return graph


def runnable(code: Graph, running: dict[str, Graph]) -> tuple[list[str], dict[str, list[str]]]:
    """What may run now: (the heads to upgrade to, among the revisions of `code` that every
    running image holds with all their ancestors; for each image, those it lacks)."""
    everywhere = {rev for rev in code if all(rev in graph for graph in running.values())}
    ready = {rev for rev in code if applied(code, (rev,)) <= everywhere}
    lacking = {
        image: sorted(set(code) - set(graph))
        for image, graph in running.items()
        if set(code) - set(graph)
    }
    return heads_of({rev: code[rev] for rev in ready}), lacking
