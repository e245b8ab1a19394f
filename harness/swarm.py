"""A single-node Docker Swarm running deploy/stack.yml, for the swarm tests and `make bench`.

v1 is the image this project's compose built, plus the probe resource and its
table's revision (harness/probe_resource.py), as a release would add a resource.
Steady reads and writes run from a container in the network namespace of the stack's
database task (harness/on_stack.py; the stack's networks are not attachable, so no other
container can join them). It reaches the replicas through `tasks.web`, the service's DNS
entry that lists every task, as a load balancer in front of the stack would: this engine's
virtual IPs (IPVS), and so the ingress mesh, do not answer here. `swarm()` tears everything down at
the end, whatever happened, and leaves the swarm only if it created it.
"""

import json
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.compose import (
    PROJECT,
    ROOT,
    VERSIONS,
    built_image,
    caddy_env,
    image,
    probe_files,
    readable_folder,
)
from harness.revisions import write_revision
from harness.waiting import wait_until

STACK = f"{PROJECT}swarm"
NETWORKS = (f"{STACK}_default", f"{STACK}_front")
WEB = f"{STACK}_web"
# The releases are tags of this project's web image: <project>-web:swarm-v1, ...
IMAGE = image("web").split(":")[0]
TOOLS = image("tools")


def sh(*args: str, check: bool = True, timeout: float = 300, **kwargs) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


# make deploy, as the tests run it: `docker stack deploy`, then the post-deploy revisions.
DEPLOY = ("sh", "deploy/deploy.sh", "--resolve-image", "never", "--detach=true")


def deploy_env(tag: str) -> dict[str, str]:
    return {
        **os.environ,
        **caddy_env(),
        "STACK_NAME": STACK,
        "WEB_IMAGE": f"{IMAGE}:{tag}",
        "PGBOUNCER_IMAGE": built_image("pgbouncer"),
        "DB_IMAGE": built_image("db"),
        "HTTP_PORT": "18090",
        "HTTPS_PORT": "18093",
    }


def deploy(tag: str, check: bool = True) -> None:
    """make deploy of `tag`; it returns once the rollout has settled (and fails, unless not
    `check`, when the update was rolled back)."""
    sh(*DEPLOY, cwd=ROOT, env=deploy_env(tag), check=check)


def task_container(service: str) -> str:
    """The running container of the stack's one-replica `service` (db, pgbouncer, proxy)."""
    return sh(
        "docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"
    )


def on_stack() -> tuple[str, ...]:
    """harness/on_stack.py in the tools image, in the network namespace of the stack's
    database task: on the stack's network, which no other container may join."""
    return (
        *("docker", "run", "--rm", "-i", "--network", f"container:{task_container('db')}"),
        *("--entrypoint", "python", TOOLS, "-m", "harness.on_stack"),
    )


def all_ready() -> bool:
    result = subprocess.run([*on_stack(), "ready"], capture_output=True, timeout=60, check=False)
    return result.returncode == 0


def psql(sql: str) -> str:
    return sh("docker", "exec", task_container("db"), "psql", "-U", "postgres", "-d", "app", "-tAc", sql)  # fmt: skip


def update_state() -> str | None:
    status = sh("docker", "service", "inspect", WEB, "--format", "{{json .UpdateStatus}}")
    return (json.loads(status) or {}).get("State")


def web_logs() -> str:
    """Every web container's log, the stopped ones too (`docker service logs` hangs here)."""
    containers = sh(
        "docker", "ps", "-aq", "--filter", f"label=com.docker.swarm.service.name={WEB}"
    ).split()
    return "".join(
        subprocess.run(
            ["docker", "logs", c], capture_output=True, text=True, timeout=30, check=True
        ).stderr
        for c in containers
    )


def running_images() -> list[str]:
    return sh(
        "docker",
        "service",
        "ps",
        WEB,
        "--filter",
        "desired-state=running",
        "--format",
        "{{.Image}} {{.CurrentState}}",
    ).splitlines()


def release(base: str, tag: str, folder: Path, files: dict[str, str], extra: str = "") -> None:
    """A new image `tag` built from `base`, with `folder`'s files copied to where `files`
    says (file name -> path in the image), as a release would add them; `extra`: more
    Dockerfile lines (ENV ...)."""
    copies = "".join(f"COPY {name} {target}\n" for name, target in files.items())
    (folder / "Dockerfile").write_text(f"FROM {base}\n{copies}{extra}")
    sh("docker", "build", "-q", "-t", f"{IMAGE}:{tag}", str(folder))


def release_with_revision(base: str, tag: str, revision: str, down: str, upgrade: str) -> None:
    """`base` plus one revision file, `revision` after `down`."""
    folder = readable_folder("e2e-swarm-")
    path = write_revision(folder, revision, down, upgrade)
    release(f"{IMAGE}:{base}", tag, folder, {path.name: f"{VERSIONS}/{path.name}"})


def release_with_probe(tag: str) -> None:
    """This project's web image plus the probe resource and its table's revision."""
    folder = readable_folder("e2e-swarm-")
    files = {path.name: target for path, target in probe_files(folder).items()}
    release(built_image("web"), tag, folder, files)


class Traffic:
    """Steady reads and writes from a container on the stack's network, for the length of a block."""

    def __enter__(self) -> "Traffic":
        self.process = subprocess.Popen(
            [*on_stack(), "traffic", "http://tasks.web:8000", f"traffic-{time.time_ns()}"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(3)
        return self

    def __exit__(self, *exc: object) -> None:
        out, err = self.process.communicate(input="", timeout=120)
        assert self.process.returncode == 0, err
        self.summary = json.loads(out.strip().splitlines()[-1])


def deploy_and_wait(tag: str) -> None:
    """A first deploy of `tag`: three replicas running, and every one ready."""
    deploy(tag)
    wait_until(
        lambda: (
            sh("docker", "service", "ls", "--filter", f"name={WEB}", "--format", "{{.Replicas}}")
            == "3/3"
        ),
        f"{tag} replicas running",
        timeout=240,
        interval=1,
    )
    wait_until(all_ready, f"{tag} replicas ready", timeout=120, interval=1)


def create_items(*names: str) -> None:
    """Probe items, through a replica (Traffic reads item 1: create one first)."""
    sh(*on_stack(), "create", *names, timeout=180)


SETTLED = ("completed", "rollback_completed", "paused")


def roll_out(tag: str) -> dict:
    """Deploy `tag` under steady traffic until the update settles: the traffic's summary
    (reads, writes, failures) and the update's seconds, from `docker stack deploy` on."""
    with Traffic() as traffic:
        started = time.monotonic()
        deploy(tag, check=False)  # a rolled-back update fails make deploy; the caller judges
        wait_until(lambda: update_state() in SETTLED, f"{tag} rollout", timeout=300, interval=0.25)
        seconds = time.monotonic() - started
        time.sleep(3)
    summary = {**traffic.summary, "seconds": seconds}
    print(
        f"\n{tag}: update {update_state()} after {seconds:.1f}s; {summary['reads']} reads, "
        f"{summary['writes']} writes, {len(summary['failures'])} failed"
    )
    return summary


def assert_all_replicas_on(tag: str) -> None:
    images = running_images()
    assert len(images) == 3, images
    assert all(line.startswith(f"{IMAGE}:{tag} Running") for line in images), images


def stack_containers() -> str:
    return sh(
        "docker", "ps", "-aq", "--filter", f"label=com.docker.stack.namespace={STACK}", check=False
    )


@contextmanager
def swarm() -> Iterator[None]:
    """A swarm with nothing of this stack's in it when the block ends."""
    built_image("tools")  # the traffic and the checks run in it
    created = sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}") != "active"
    if created:
        sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        sh("docker", "stack", "rm", STACK, check=False)
        try:
            wait_until(lambda: not stack_containers(), "the stack's containers gone", 90, 1)
        finally:  # whatever happened, leave nothing behind
            sh("docker", "network", "rm", *NETWORKS, check=False)
            volumes = sh(
                "docker", "volume", "ls", "-q", "--filter",
                f"label=com.docker.stack.namespace={STACK}", check=False,
            )  # fmt: skip
            if volumes:
                sh("docker", "volume", "rm", *volumes.split(), check=False)
            secrets = sh("docker", "secret", "ls", "-q", "--filter", f"name={STACK}_", check=False)
            if secrets:
                sh("docker", "secret", "rm", *secrets.split(), check=False)
            tags = [f"{IMAGE}:swarm-v{n}" for n in range(1, 6)]
            sh("docker", "image", "rm", *tags, check=False)
            if created:
                sh("docker", "swarm", "leave", "--force", check=False)
