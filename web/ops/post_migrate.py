"""make post-migrate (compose) and make deploy's last step (swarm): the post-deploy revisions,
applied only once every running replica runs code that holds them.

    python3 -m web.ops.post_migrate [--wait SECONDS]     the compose project here
    python3 -m web.ops.post_migrate --swarm STACK --image IMAGE   after `docker stack deploy`

What runs is read from Docker: the compose project's web containers, or the swarm service's
tasks once its rollout has converged; and from each one's image, the post-deploy revisions
it holds. A revision that a running replica's image lacks waits (that replica may still need
what it removes), and so do those after it; the rest are applied by `alembic -n post
upgrade`, under the migration lock, each in its own transaction (migrations/env.py), in a
one-off container of the release's image: `docker compose run`, or on swarm a replicated job
with web's environment, secrets and network and no healthcheck, which nothing kills however
long an index build takes. Exit status 0 when everything is applied, 1 when something
failed or waits (it says which, and why).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from web.ops.orchestrator import (
    OpsError,
    Project,
    command_line,
    inspect,
    name,
    outcome,
    post_revisions,
    run,
    runnable,
    say,
)

TOOL = "post-migrate"
UPGRADE = ("alembic", "-n", "post", "upgrade")
WAIT = "compose: how long to wait for replicas of older code to go (default 0)"
# Swarm: how long to wait for the rollout to converge, and for the job to finish.
CONVERGE_SECONDS = 900
JOB_SECONDS = 6 * 3600
# Task states a task does not leave: its container is gone or never ran.
ENDED = ("complete", "failed", "rejected", "shutdown", "orphaned", "remove")


def plan(code: dict, running: dict[str, dict], where: dict[str, list[str]]) -> str | None:
    """The target of `alembic -n post upgrade` ("heads" when nothing waits), or None when
    nothing may run; says what waits, and for which replicas."""
    heads, lacking = runnable(code, running)
    for image, missing in lacking.items():
        short = image[:19] if image.startswith("sha256:") else image
        say(
            TOOL,
            f"waiting: {', '.join(where[image])} run(s) {short}, which lacks post-deploy "
            f"revision(s) {', '.join(missing)}; they wait until it is gone",
        )
    if not lacking:
        return "heads"
    return heads[0] if heads else None


def running_revisions(images: dict[str, list[str]]) -> dict[str, dict]:
    """Each running image (mapped to what runs it) -> the post-deploy revisions it holds."""
    return {image: post_revisions(image) for image in images}


def compose(wait: float) -> int:
    project = Project.running()
    image = project.image("web")
    code = post_revisions(image)
    if not code:
        say(TOOL, f"{image} holds no post-deploy revisions: nothing to do")
        return 0
    deadline = time.monotonic() + wait
    while True:
        where: dict[str, list[str]] = {}
        for container in project.containers("web", one_offs=True):
            where.setdefault(container["Image"], []).append(name(container))
        target = plan(code, running_revisions(where), where)
        if target == "heads" or time.monotonic() >= deadline:
            break
        time.sleep(2)
    if target is None:
        return 1
    say(TOOL, f"applying the post-deploy revisions up to {target} with {image}")
    started = time.monotonic()
    applied = subprocess.run(
        project.command(
            *["run", "--rm", "--no-deps", "-e", "LOG_FORMAT=text", "web"], *UPGRADE, target
        ),
        env={**os.environ, "COMPOSE_PROJECT_NAME": project.name},
        timeout=JOB_SECONDS,
        check=False,
    )
    if applied.returncode != 0:
        say(TOOL, f"error: alembic -n post upgrade {target} failed (its output is above)")
        return 1
    say(TOOL, f"applied up to {target} in {time.monotonic() - started:.1f} s")
    return 0 if target == "heads" else 1


def inspect_service(service: str) -> dict:
    return json.loads(run("docker", "service", "inspect", service))[0]


def live_tasks(service: str) -> list[dict]:
    """The service's tasks whose container may still run, whatever their desired state: a
    replaced replica is told to shut down before it has stopped (it drains first)."""
    tasks = inspect(*run("docker", "service", "ps", "-q", service).split())
    return [task for task in tasks if task["Status"]["State"] not in ENDED]


def converge(service: str, deployed: str) -> str:
    """Wait until the rollout of image `deployed` has settled: every live task running the
    service's image, healthy, and no replica of another image still stopping. Then "completed", or how it ended otherwise ("rollback_completed"
    once it has settled back on the image before; "paused")."""
    deadline = time.monotonic() + CONVERGE_SECONDS
    while time.monotonic() < deadline:
        info = inspect_service(service)
        state = (info.get("UpdateStatus") or {}).get("State", "")
        if state in ("paused", "rollback_paused"):
            return state
        image = info["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        replicas = info["Spec"]["Mode"].get("Replicated", {}).get("Replicas")
        tasks = live_tasks(service)
        settled = [
            task
            for task in tasks
            if task["Status"]["State"] == "running"
            and task["Spec"]["ContainerSpec"]["Image"] == image
        ]
        if len(settled) == len(tasks) == replicas:
            # A registry's digest may follow the tag the deploy named (image:tag@sha256:...).
            if image == deployed or image.startswith(f"{deployed}@"):
                return "completed"
            if state.startswith("rollback"):
                return state
        time.sleep(0.5)
    raise OpsError(f"{service}: the rollout did not settle within {CONVERGE_SECONDS} s")


def job_arguments(spec: dict) -> list[str]:
    """`docker service create` options that give the job what web's tasks have: environment,
    secrets, networks, user, read-only root, dropped capabilities and tmpfs mounts."""
    template = spec["TaskTemplate"]
    container = template["ContainerSpec"]
    args: list[str] = []
    for variable in container.get("Env", []):
        args += ["--env", variable]
    for secret in container.get("Secrets", []):
        file = secret["File"]
        args += [
            "--secret",
            f"source={secret['SecretName']},target={file['Name']},uid={file['UID']},"
            f"gid={file['GID']},mode=0{file['Mode']:o}",
        ]
    for network in template.get("Networks", []):
        args += ["--network", network["Target"]]
    if container.get("User"):
        args += ["--user", container["User"]]
    if container.get("ReadOnly"):
        args += ["--read-only"]
    for capability in container.get("CapabilityDrop") or []:
        args += ["--cap-drop", capability]
    for mount in container.get("Mounts", []):
        if mount.get("Type") == "tmpfs":
            args += ["--mount", f"type=tmpfs,destination={mount['Target']}"]
    return args


def job(stack: str, spec: dict, image: str, target: str) -> int:
    """`alembic -n post upgrade target` as a one-off swarm job; its log is shown as it runs."""
    job_name = f"{stack}_post-migrate"
    if json.loads(run("docker", "service", "inspect", job_name, check=False) or "[]"):
        states = [
            task["Status"]["State"]
            for task in inspect(*run("docker", "service", "ps", "-q", job_name).split())
        ]
        if any(state not in ENDED for state in states):
            raise OpsError(f"{job_name} is still running from an earlier deploy: let it finish")
        run("docker", "service", "rm", job_name)
    options = [
        "--detach",
        "--mode",
        "replicated-job",
        "--restart-condition",
        "none",
        "--no-healthcheck",
    ]
    namespace = f"com.docker.stack.namespace={stack}"  # `docker stack rm` removes it too
    run(
        *["docker", "service", "create"],
        *options,
        "--name",
        job_name,
        "--label",
        namespace,
        *job_arguments(spec),
        image,
        *UPGRADE,
        target,
    )
    say(TOOL, f"applying the post-deploy revisions up to {target} in the job {job_name}")
    started = time.monotonic()
    follower = None
    task: dict = {}
    try:
        while time.monotonic() - started < JOB_SECONDS:
            ids = run("docker", "service", "ps", "-q", job_name).split()
            task = (inspect(*ids) or [{}])[0]
            state = task.get("Status", {}).get("State", "")
            container = task.get("Status", {}).get("ContainerStatus", {}).get("ContainerID")
            if container and follower is None:
                follower = subprocess.Popen(["docker", "logs", "-f", container])
            if state in ENDED:
                break
            time.sleep(1)
        else:
            raise OpsError(f"{job_name} still runs after {JOB_SECONDS} s; it is left running")
        if follower is not None:
            follower.wait(timeout=60)
        code = task["Status"].get("ContainerStatus", {}).get("ExitCode")
        if state != "complete" or code != 0:
            message = task["Status"].get("Err") or f"exit status {code}"
            say(TOOL, f"error: the job {job_name} ended {state}: {message} (its log is above)")
            return 1
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
    run("docker", "service", "rm", job_name, check=False)
    say(TOOL, f"applied up to {target} in {time.monotonic() - started:.1f} s")
    return 0 if target == "heads" else 1


def swarm(stack: str, deployed: str) -> int:
    service = f"{stack}_web"
    state = converge(service, deployed)
    if state != "completed":
        say(TOOL, f"error: the update of {service} ended {state}: no post-deploy revision runs")
        return 1
    spec = inspect_service(service)["Spec"]
    image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
    where: dict[str, list[str]] = {}
    for task in live_tasks(service):
        where.setdefault(task["Spec"]["ContainerSpec"]["Image"], []).append(task["ID"][:12])
    say(TOOL, f"{service} settled: {sum(map(len, where.values()))} tasks of {image}")
    code = post_revisions(image)
    if not code:
        say(TOOL, f"{image} holds no post-deploy revisions: nothing to do")
        return 0
    target = plan(code, running_revisions(where), where)
    return 1 if target is None else job(stack, spec, image, target)


def main(argv: list[str]) -> int:
    parser = command_line(TOOL, __doc__)
    parser.add_argument("--swarm", metavar="STACK", help="a swarm stack, after its rollout")
    parser.add_argument("--image", help="swarm: the web image the rollout deployed")
    parser.add_argument("--wait", type=float, default=0, metavar="SECONDS", help=WAIT)
    args = parser.parse_args(argv)
    if args.swarm and not args.image:
        parser.error("--swarm needs --image")
    return outcome(
        TOOL, lambda: swarm(args.swarm, args.image) if args.swarm else compose(args.wait)
    )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
