"""Zero-downtime deploys on a single-node Docker Swarm, with deploy/stack.yml and deploy/deploy.sh.

v1 is the image as built; v2 adds a revision with a nullable column (backward
compatible); v3 adds a revision that fails. Steady reads and writes run from a
container on the stack's network throughout. It reaches the replicas through
`tasks.web`, the service's DNS entry that lists every task, as a load balancer
in front of the stack would: this engine's virtual IPs (IPVS), and so the
ingress mesh, do not answer here. Everything is torn down at the end, whatever happened, and the swarm is
left only if this test created it.
"""

import json
import os
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from e2e.conftest import ROOT
from web.container.schema_version import code_revisions

STACK = "fae2eswarm"
NETWORK = f"{STACK}_default"
WEB = f"{STACK}_web"
IMAGE = "flask-alembic-web"
TOOLS = "flask-alembic-tools:latest"
BASE_REVISION_HEAD = code_revisions()[1][0]  # this checkout's head: v1's

# Runs in a container on the stack's network until its stdin closes; prints a JSON summary.
TRAFFIC = r"""
import json, sys, threading, time
import requests
base, tag = sys.argv[1], sys.argv[2]
stop = threading.Event()
threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
summary = {"reads": 0, "writes": 0, "failures": []}
session, deadline, i = requests.Session(), time.monotonic() + 900, 0
while not stop.is_set() and time.monotonic() < deadline:
    i += 1
    for method, path, body, ok, kind in (
        ("GET", "/api/projects/1", None, 200, "reads"),
        ("POST", "/api/projects", {"name": f"{tag}-{i}"}, 201, "writes"),
    ):
        try:
            status = session.request(method, base + path, json=body, timeout=10).status_code
        except requests.RequestException as exc:
            status = type(exc).__name__
        if status == ok:
            summary[kind] += 1
        else:
            summary["failures"].append(f"{method} {path}: {status}")
    time.sleep(0.05)
print(json.dumps(summary))
"""

CHECK_READY = r"""
import sys, time, requests
deadline = time.monotonic() + 120
while time.monotonic() < deadline:
    try:
        if all(requests.get("http://tasks.web:8000/readyz", timeout=3).status_code == 200 for _ in range(6)):
            sys.exit(0)
    except requests.RequestException:
        pass
    time.sleep(1)
sys.exit("web not ready")
"""


def sh(*args: str, check: bool = True, timeout: float = 300, **kwargs) -> str:
    result = subprocess.run(
        args, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout.strip()


def deploy(tag: str) -> None:
    env = {**os.environ, "STACK_NAME": STACK, "WEB_IMAGE": f"{IMAGE}:{tag}", "WEB_PORT": "18090"}
    sh("sh", "deploy/deploy.sh", "--resolve-image", "never", "--detach=true", cwd=ROOT, env=env)


# A python one-off in the tools image, on the stack's network: `python -c SCRIPT ARGS...`.
ON_NETWORK = (
    "docker",
    "run",
    "--rm",
    "-i",
    "--network",
    NETWORK,
    "--entrypoint",
    "python",
    TOOLS,
    "-c",
)


def on_network(script: str, *args: str, stdin: str = "", timeout: float = 180) -> str:
    return sh(*ON_NETWORK, script, *args, input=stdin, timeout=timeout)


def psql(sql: str) -> str:
    container = sh(
        "docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_db"
    )
    return sh("docker", "exec", container, "psql", "-U", "app", "-d", "app", "-tAc", sql)


def update_state() -> str | None:
    status = sh("docker", "service", "inspect", WEB, "--format", "{{json .UpdateStatus}}")
    return (json.loads(status) or {}).get("State")


def wait_for(condition, what: str, timeout: float) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f"{what}: not within {timeout}s"
        time.sleep(1)
    return time.monotonic() - start


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


def image_with_revision(base: str, tag: str, revision: str, down: str, upgrade: str) -> None:
    """A new image: `base` plus one revision file, as a release would add one."""
    folder = Path(tempfile.mkdtemp(prefix="swarm-image-"))
    (folder / "revision.py").write_text(
        f'revision = "{revision}"\ndown_revision = "{down}"\nbranch_labels = None\ndepends_on = None\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n\n"
        f"def upgrade():\n    {upgrade}\n\n\ndef downgrade():\n    pass\n"
    )
    (folder / "revision.py").chmod(0o644)
    (folder / "Dockerfile").write_text(
        f"FROM {IMAGE}:{base}\nCOPY revision.py /app/migrations/versions/2099_01_01_0000-{revision}_swarm.py\n"
    )
    sh("docker", "build", "-q", "-t", f"{IMAGE}:{tag}", str(folder))


class Traffic:
    """Steady reads and writes from a container on the stack's network, for the length of a block."""

    def __enter__(self) -> "Traffic":
        self.process = subprocess.Popen(
            [*ON_NETWORK, TRAFFIC, "http://tasks.web:8000", f"traffic-{time.time_ns()}"],
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


SETTLED = ("completed", "rollback_completed", "paused")


def roll_out(tag: str) -> dict:
    """Deploy `tag` under steady traffic until the update settles; the traffic's summary."""
    with Traffic() as traffic:
        started = time.monotonic()
        deploy(tag)
        wait_for(lambda: update_state() in SETTLED, f"{tag} rollout", 300)
        seconds = time.monotonic() - started
        time.sleep(3)
    summary = traffic.summary
    print(
        f"\n{tag}: update {update_state()} after {seconds:.1f}s; {summary['reads']} reads, "
        f"{summary['writes']} writes, {len(summary['failures'])} failed"
    )
    return summary


def assert_all_replicas_on(tag: str) -> None:
    images = running_images()
    assert len(images) == 3, images
    assert all(line.startswith(f"{IMAGE}:{tag} Running") for line in images), images


@pytest.fixture(scope="module")
def swarm() -> Iterator[None]:
    created = sh("docker", "info", "--format", "{{.Swarm.LocalNodeState}}") != "active"
    if created:
        sh("docker", "swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        sh("docker", "stack", "rm", STACK, check=False)
        deadline = time.monotonic() + 90
        while sh(
            "docker",
            "ps",
            "-aq",
            "--filter",
            f"label=com.docker.stack.namespace={STACK}",
            check=False,
        ):
            if time.monotonic() > deadline:
                break
            time.sleep(1)
        sh("docker", "network", "rm", NETWORK, check=False)
        sh("docker", "volume", "rm", f"{STACK}_db-data", check=False)
        sh("docker", "secret", "rm", f"{STACK}_db_password", f"{STACK}_secret_key", check=False)
        sh(
            "docker",
            "image",
            "rm",
            f"{IMAGE}:swarm-v1",
            f"{IMAGE}:swarm-v2",
            f"{IMAGE}:swarm-v3",
            check=False,
        )
        if created:
            sh("docker", "swarm", "leave", "--force", check=False)


def test_rolling_schema_change_without_a_failed_request_then_a_failed_migration_rolls_back(
    swarm,
) -> None:
    sh("docker", "tag", f"{IMAGE}:latest", f"{IMAGE}:swarm-v1")
    image_with_revision(
        "swarm-v1",
        "swarm-v2",
        "swarmv2",
        BASE_REVISION_HEAD,
        'op.add_column("projects", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))',
    )
    image_with_revision(
        "swarm-v2",
        "swarm-v3",
        "swarmv3",
        "swarmv2",
        'op.execute("CREATE TABLE swarm_half_done (id int)")\n    raise RuntimeError("v3 fails on purpose")',
    )

    # v1: three replicas on a fresh database, migrated once.
    deploy("swarm-v1")
    wait_for(
        lambda: (
            sh("docker", "service", "ls", "--filter", f"name={WEB}", "--format", "{{.Replicas}}")
            == "3/3"
        ),
        "v1 replicas running",
        240,
    )
    on_network(CHECK_READY)
    assert psql("SELECT version_num FROM alembic_version") == BASE_REVISION_HEAD
    on_network(
        "import requests\nfor i in range(20):\n"
        "    r = requests.post('http://tasks.web:8000/api/projects', json={'name': f'v1 record {i}'}, timeout=10)\n"
        "    assert r.status_code == 201, r.text\n"
    )
    before = int(psql("SELECT count(*) FROM projects"))
    assert before == 20

    # v2: a backward-compatible column, rolled out under traffic.
    v2 = roll_out("swarm-v2")
    assert update_state() == "completed"
    assert v2["failures"] == [], v2["failures"][:20]
    assert v2["reads"] > 50 and v2["writes"] > 50
    assert_all_replicas_on("swarm-v2")
    assert psql("SELECT version_num FROM alembic_version") == "swarmv2"
    assert (
        psql(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'projects' AND column_name = 'archived_at'"
        )
        == "1"
    )
    logs = web_logs()
    assert logs.count(f"Running upgrade {BASE_REVISION_HEAD} -> swarmv2") == 1, logs[-3000:]
    assert int(psql("SELECT count(*) FROM projects")) == before + v2["writes"]
    assert int(psql("SELECT count(*) FROM projects WHERE name LIKE 'v1 record %'")) == 20

    # v3: its migration fails; the update rolls back and v2 keeps serving throughout.
    v3 = roll_out("swarm-v3")
    assert update_state() == "rollback_completed"
    assert v3["failures"] == [], v3["failures"][:20]
    assert v3["reads"] > 20
    assert_all_replicas_on("swarm-v2")
    assert psql("SELECT version_num FROM alembic_version") == "swarmv2"
    assert psql("SELECT to_regclass('swarm_half_done')") == ""
