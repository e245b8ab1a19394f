"""make upgrade: the working tree's release on the running compose stack, one host, no gap.

    python3 -m web.ops.upgrade [--no-build] [--timeout SECONDS]

Behind the proxy (compose.proxy.yml: Caddy in front, web unpublished), as docker-rollout
does it: build the image, start a new web container beside each running one (same compose
project: `up --scale --no-recreate`), wait until each answers /readyz (its start-up step
has migrated), then stop the old ones and remove them. Caddy's configuration never changes
(a reload would close idle client connections): it dials `web:8000` through Go's dialer,
which tries the name's next address when one refuses the connection. A new container
listens only once it has migrated; a stopping one refuses new connections at once and
finishes those under way (web/container/worker.py); Caddy closes its idle connections to
the app before gunicorn would (deploy/Caddyfile). So every request reaches a container that
serves it.

If a new container never becomes ready, the old ones keep serving, the new ones are removed,
a tag this build moved points at the old image again, and it exits 1 with the reason from
the new container's log. Without the proxy, web publishes 127.0.0.1:8000 itself and two
containers cannot share that port: it says so, then recreates web, with a gap.
"""

from __future__ import annotations

import json
import sys
import time

from web.ops.orchestrator import (
    OpsError,
    Project,
    command_line,
    inspect,
    logs,
    name,
    outcome,
    run,
    say,
    succeeds,
)

TOOL = "upgrade"
TIMEOUT = "how long a new container may take to become ready (default 180)"


def ready(container: dict) -> bool:
    """Its own healthcheck passes (/readyz answers 200), run now rather than at Docker's next
    interval. An error once it has stopped or restarted: its start-up step failed."""
    now = inspect(container["Id"])
    if not now or now[0]["State"]["Status"] != "running" or now[0]["RestartCount"]:
        raise OpsError(f"{name(container)} stopped: its start-up step failed")
    return succeeds("docker", "exec", container["Id"], "python", "-m", "web.container.healthcheck")


def why(container: dict) -> str:
    """The error lines of a container's log (JSON or text), or its last lines."""
    out = logs(container["Id"])
    errors = []
    for line in out.splitlines():
        if line.startswith("{"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("level") == "error":
                errors.append(f"error: {record.get('message')}")
        elif line.startswith("error:"):
            errors.append(line)
    return "\n  ".join(errors or out.splitlines()[-5:])


def wait_ready(containers: list[dict], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    waiting = list(containers)
    while waiting:
        waiting = [container for container in waiting if not ready(container)]
        if waiting and time.monotonic() > deadline:
            raise OpsError(f"{name(waiting[0])} not ready within {timeout:g} s")
        if waiting:
            time.sleep(0.2)


def upgrade(project: Project, built: float, moved_tag: bool, timeout: float) -> None:
    olds = project.containers("web")
    if not project.containers("proxy"):
        say(
            TOOL,
            "no proxy in front (compose.proxy.yml is not in use): web publishes "
            "127.0.0.1:8000 itself and two containers cannot share that port, so web is "
            "recreated, with a gap of a restart. For none, run the stack with compose.proxy.yml.",
        )
        project.compose("up", "-d", "--no-deps", "--wait", "--wait-timeout", f"{timeout:g}", "web")
        say(TOOL, "done: web runs the image it names")
        return
    if any(c["HostConfig"].get("PortBindings") for c in olds):
        raise OpsError("web publishes a host port, so a second one cannot start beside it")
    before = {c["Id"] for c in olds}
    # `web` names the new containers too; they refuse connections until migrated (above).
    project.compose(
        "up", "-d", "--no-deps", "--no-recreate", "--scale", f"web={2 * len(olds)}", "web"
    )
    news = [c for c in project.containers("web") if c["Id"] not in before]
    say(TOOL, f"started {', '.join(map(name, news))} beside {', '.join(map(name, olds))}")
    try:
        wait_ready(news, timeout)
    except OpsError as exc:
        reasons = "\n  ".join(why(c) for c in news)
        for container in news:
            run("docker", "stop", container["Id"], check=False, timeout=60)
            run("docker", "rm", "-f", container["Id"], check=False)
        if moved_tag:
            run("docker", "tag", olds[0]["Image"], project.image("web"))
        raise OpsError(
            f"{exc}; the old container(s) keep serving, the new removed. Its log:\n  {reasons}"
        ) from None
    ready_after = time.monotonic() - built
    say(TOOL, f"{', '.join(map(name, news))} ready; stopping {', '.join(map(name, olds))}")
    run("docker", "stop", *(c["Id"] for c in olds), timeout=120)
    run("docker", "rm", *(c["Id"] for c in olds))
    gone = time.monotonic() - built
    say(
        TOOL,
        f"done: new container(s) ready {ready_after:.1f} s and the old ones gone "
        f"{gone:.1f} s after the image was built",
    )


def main(argv: list[str]) -> int:
    parser = command_line(TOOL, __doc__)
    parser.add_argument("--no-build", action="store_true", help="use the image as it is tagged")
    parser.add_argument("--timeout", type=float, default=180, metavar="SECONDS", help=TIMEOUT)
    args = parser.parse_args(argv)
    return outcome(TOOL, lambda: roll(args.no_build, args.timeout))


def roll(no_build: bool, timeout: float) -> int:
    project = Project.running()
    if not no_build:
        say(TOOL, "building the web image")
        project.compose("build", "web", timeout=1800)
    upgrade(project, time.monotonic(), not no_build, timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
