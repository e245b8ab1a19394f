"""Post-deploy revisions on a single-node swarm (make deploy: deploy/deploy.sh, then
web/ops/post_migrate.py), and a deploy-time revision that overruns its start-up deadline.

v1 is the probe resource. v2 is code that no longer reads probe_items.created_at, with a
deploy-time revision and two post-deploy ones: the drop of created_at, which v1 still reads,
and an index whose build takes E2E_INDEX_SECONDS (30 here; `make e2e-long-index`: 180),
longer than the replicas' healthcheck window (start period E2E_START_PERIOD, 10s here, the
stack's 90s there, then 16 failed checks). v3 builds the same kind of index in a deploy-time
revision, with MIGRATE_ON_START_TIMEOUT=5. Steady reads and writes run throughout.
"""

import json
import os
import re
import subprocess
import time
from datetime import datetime

from harness.compose import VERSIONS, built_image, probe_files, readable_folder
from harness.revisions import PROBE_MODULE, PROBE_REVISION, write_revision
from harness.swarm import (
    DEPLOY,
    IMAGE,
    ROOT,
    STACK,
    WEB,
    Traffic,
    assert_all_replicas_on,
    create_items,
    deploy_and_wait,
    deploy_env,
    psql,
    release,
    roll_out,
    sh,
    update_state,
    web_logs,
)

INDEX_SECONDS = float(os.environ.get("E2E_INDEX_SECONDS", "30"))
START_PERIOD = os.environ.get("E2E_START_PERIOD", "10s")
ROWS = 20  # the rows the slow index covers (a partial index: later rows cost nothing)
POST_DEPLOY = "/app/migrations/post_deploy"
JOB = f"{STACK}_post-migrate"

SLOW_KEY = f"""
op.execute(
    "CREATE FUNCTION slow_key(i int) RETURNS int LANGUAGE plpgsql IMMUTABLE "
    "AS $$ BEGIN PERFORM pg_sleep({INDEX_SECONDS / ROWS}); RETURN i; END $$"
)
"""


def slow_index(name: str) -> str:
    return f"""
with op.get_context().autocommit_block():
    op.execute("CREATE INDEX CONCURRENTLY {name} ON probe_items (slow_key(id)) WHERE id <= {ROWS}")
"""


def without_created_at() -> str:
    """The probe resource as v2 has it: its model and answers no longer have created_at."""
    source = PROBE_MODULE.read_text()
    for line in (
        "    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())\n",
        "    created_at: datetime\n",
    ):
        assert line in source, line
        source = source.replace(line, "")
    return source


def release_v1_v2_v3() -> None:
    folder = readable_folder("e2e-post-")
    v1 = {path.name: target for path, target in probe_files(folder).items()}
    release(built_image("web"), "swarm-v1", folder, v1)

    folder = readable_folder("e2e-post-")
    (folder / "probe_v2.py").write_text(without_created_at())
    (folder / "probe_v2.py").chmod(0o644)
    expand = 'op.execute("ALTER TABLE probe_items ADD COLUMN note text")'
    drop = 'op.execute("ALTER TABLE probe_items DROP COLUMN created_at")'
    files = {"probe_v2.py": "/app/web/api/probe.py"}
    for path, where in (
        (write_revision(folder, "postv2", PROBE_REVISION, expand), VERSIONS),
        (write_revision(folder, "dropcreated", None, drop, needs="postv2"), POST_DEPLOY),
        (
            write_revision(
                folder,
                "slowindex",
                "dropcreated",
                SLOW_KEY + slow_index("ix_probe_slow"),
                needs="postv2",
            ),
            POST_DEPLOY,
        ),
    ):
        files[path.name] = f"{where}/{path.name}"
    release(f"{IMAGE}:swarm-v1", "swarm-v2", folder, files)

    folder = readable_folder("e2e-post-")
    overrun = write_revision(folder, "overrunv3", "postv2", slow_index("ix_probe_v3"))
    release(
        f"{IMAGE}:swarm-v2",
        "swarm-v3",
        folder,
        {overrun.name: f"{VERSIONS}/{overrun.name}"},
        extra="ENV MIGRATE_ON_START_TIMEOUT=5\n",
    )


def tasks(service: str) -> list[dict]:
    ids = sh("docker", "service", "ps", "-q", service, check=False).split()
    return json.loads(sh("docker", "inspect", *ids)) if ids else []


def when(timestamp: str) -> datetime:
    """Docker's RFC 3339 timestamp (nanoseconds) as a datetime."""
    return datetime.fromisoformat(re.sub(r"(\.\d{6})\d*", r"\1", timestamp).replace("Z", "+00:00"))


def healthy_replicas() -> int:
    containers = sh("docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={WEB}")
    states = [
        sh("docker", "inspect", "--format", "{{.State.Health.Status}}", c)
        for c in containers.split()
    ]
    return states.count("healthy")


def watch_the_job(deploying: subprocess.Popen) -> dict:
    """While make deploy runs: the job's task and container as first seen, and the healthy
    replicas seen each second while it ran."""
    seen: dict = {"healthy": []}
    deadline = time.monotonic() + INDEX_SECONDS + 600
    while deploying.poll() is None and time.monotonic() < deadline:
        job = tasks(JOB)
        if job and job[0]["Status"]["State"] == "running":
            seen.setdefault("task", job[0])
            container = job[0]["Status"]["ContainerStatus"]["ContainerID"]
            if "container" not in seen:
                seen["container"] = json.loads(sh("docker", "inspect", container))[0]
            seen["healthy"].append(healthy_replicas())
        time.sleep(1)
    return seen


def test_post_deploy_revisions_run_after_the_rollout_and_an_overrun_rolls_back(swarm: None) -> None:
    os.environ["WEB_START_PERIOD"] = START_PERIOD  # the stack's healthcheck, for every deploy
    try:
        release_v1_v2_v3()
        deploy_and_wait("swarm-v1")
        create_items(*(f"v1 record {i}" for i in range(ROWS)))

        # v2: the rollout, then the post-deploy revisions, under traffic.
        with Traffic() as traffic:
            deploying = subprocess.Popen(
                DEPLOY, cwd=ROOT, env=deploy_env("swarm-v2"), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            seen = watch_the_job(deploying)
            output = deploying.communicate(timeout=INDEX_SECONDS + 600)[0]
        assert deploying.returncode == 0, output
        assert traffic.summary["failures"] == [], traffic.summary["failures"][:20]
        assert traffic.summary["reads"] > 50 and traffic.summary["writes"] > 50
        assert update_state() == "completed"
        assert_all_replicas_on("swarm-v2")

        # The job started after the last v1 replica had gone, and after the update completed.
        job_started = when(seen["task"]["CreatedAt"])
        v1_gone = max(
            when(task["Status"]["Timestamp"])
            for task in tasks(WEB)
            if task["Spec"]["ContainerSpec"]["Image"].endswith(":swarm-v1")
        )
        assert job_started > v1_gone, (job_started, v1_gone)
        # Not killed, and no healthcheck to kill it: it ran longer than a replica may be unready.
        assert seen["container"]["Config"]["Healthcheck"]["Test"] == ["NONE"]
        window = float(START_PERIOD.rstrip("s")) + 16
        ran = re.search(r"applied up to heads in ([\d.]+) s", output)
        assert ran and float(ran.group(1)) >= max(INDEX_SECONDS, window), output[-2000:]
        # The replicas stayed ready while it ran.
        assert seen["healthy"] and set(seen["healthy"]) == {3}, seen["healthy"]
        # Both revisions applied: the column is gone, the index built and valid.
        assert psql("SELECT version_num FROM alembic_version_post") == "slowindex"
        assert (
            psql(
                "SELECT count(*) FROM information_schema.columns WHERE table_name = 'probe_items' AND column_name = 'created_at'"
            )
            == "0"
        )
        assert (
            psql("SELECT indisvalid FROM pg_index WHERE indexrelid = 'ix_probe_slow'::regclass")
            == "t"
        )
        assert sh("docker", "service", "ls", "-q", "--filter", f"name={JOB}") == ""

        # v3: its deploy-time index build overruns MIGRATE_ON_START_TIMEOUT: cancelled
        # cleanly, the replica exits 1 (never killed), the update rolls back.
        v3 = roll_out("swarm-v3")
        assert update_state() == "rollback_completed"
        assert v3["failures"] == [], v3["failures"][:20]
        assert_all_replicas_on("swarm-v2")
        assert psql("SELECT version_num FROM alembic_version") == "postv2"
        assert psql("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0"
        assert psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
        assert "ran over MIGRATE_ON_START_TIMEOUT (5 s)" in web_logs()
        exits = {
            task["Status"].get("ContainerStatus", {}).get("ExitCode")
            for task in tasks(WEB)
            if task["Spec"]["ContainerSpec"]["Image"].endswith(":swarm-v3")
        }
        assert exits == {1}, exits
    finally:
        del os.environ["WEB_START_PERIOD"]
