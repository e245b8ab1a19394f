"""Zero-downtime deploys on a single-node Docker Swarm, with deploy/stack.yml and deploy/deploy.sh
(make deploy: `docker stack deploy`, then web/ops/post_migrate.py; the swarm and its helpers:
harness/swarm.py). One swarm for the module: the second test goes on from the first's stack.

v1 is the image this project's compose built, plus the probe resource; v2 adds a
revision with a nullable column to the probe's table (backward compatible), and is then
rolled back to v1 (`docker service rollback`), whose replicas start on v2's schema; v3 adds
a revision that fails; v4 and v5: post-deploy revisions, and a deploy-time revision that
overruns its start-up deadline. Steady reads and writes run throughout. First, v1 as
deployed is looked at as an auditor would: every service confined, the networks closed,
the roles.
"""

import json
import os
import re
import subprocess
import time
from datetime import datetime

from harness.compose import VERSIONS, readable_folder
from harness.revisions import PROBE_MODULE, PROBE_REVISION, write_revision
from harness.security import assert_rows_only, capabilities, confinement, role_check
from harness.swarm import (
    DEPLOY,
    IMAGE,
    NETWORKS,
    ROOT,
    STACK,
    TOOLS,
    WEB,
    Traffic,
    assert_all_replicas_on,
    create_items,
    deploy_and_wait,
    deploy_env,
    psql,
    release,
    release_with_probe,
    release_with_revision,
    roll_out,
    sh,
    update_state,
    web_logs,
)
from harness.waiting import wait_until


def containers(service: str) -> list[str]:
    return sh(
        "docker", "ps", "-q", "--filter", f"label=com.docker.swarm.service.name={STACK}_{service}"
    ).split()


def test_the_stack_is_confined_and_closed(swarm: None) -> None:
    release_with_probe("swarm-v1")
    deploy_and_wait("swarm-v1")
    # Swarm has no no-new-privileges option: the web and PgBouncer images set it themselves.
    for service, no_new_privileges in (
        ("web", True), ("pgbouncer", True), ("proxy", False), ("prometheus", False)
    ):  # fmt: skip
        running = containers(service)
        assert running, service
        for container in running:
            seen = confinement(container)
            assert seen.cap_drop == ["ALL"], (service, seen)
            wanted = {"NET_BIND_SERVICE"} if service == "proxy" else set()
            assert capabilities(seen.cap_add) == wanted, (service, seen)
            assert seen.no_new_privileges or not no_new_privileges, (service, seen)
            assert seen.read_only_root and seen.tmp_is_tmpfs, (service, seen)
            assert seen.memory_limit > 0 and seen.pids_limit > 0, (service, seen)
            assert (seen.log_driver, seen.log_max_size) == ("local", "10m"), (service, seen)

    # No container outside the stack joins its networks; X-Forwarded-* only from the proxy's.
    networks = json.loads(sh("docker", "network", "inspect", *NETWORKS))
    assert [network["Attachable"] for network in networks] == [False, False]
    outsider = subprocess.run(
        ["docker", "run", "--rm", "--network", NETWORKS[0], "--entrypoint", "true", TOOLS],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert outsider.returncode != 0
    [front] = [n for n in networks if n["Name"].endswith("_front")]
    env = json.loads(sh("docker", "inspect", containers("web")[0]))[0]["Config"]["Env"]
    assert f"FORWARDED_ALLOW_IPS={front['IPAM']['Config'][0]['Subnet']}" in env

    web = ["docker", "exec", "-i", containers("web")[0], "python", "-"]
    assert_rows_only(role_check(web))
    assert psql("SELECT rolsuper FROM pg_roles WHERE rolname = 'app_owner'") == "f"


INDEX_SECONDS = float(os.environ.get("E2E_INDEX_SECONDS", "24"))
START_PERIOD = os.environ.get("E2E_START_PERIOD", "5s")
ROWS = 20  # v1's items, ids 1 to 20: what the slow index covers (later rows cost nothing)
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


def release_v4_v5() -> None:
    folder = readable_folder("e2e-post-")
    (folder / "probe_v4.py").write_text(without_created_at())
    (folder / "probe_v4.py").chmod(0o644)
    expand = 'op.execute("ALTER TABLE probe_items ADD COLUMN note text")'
    drop = 'op.execute("ALTER TABLE probe_items DROP COLUMN created_at")'
    files = {"probe_v4.py": "/app/web/api/probe.py"}
    for path, where in (
        (write_revision(folder, "postv4", "swarmv2", expand), VERSIONS),
        (write_revision(folder, "dropcreated", None, drop, needs="postv4"), POST_DEPLOY),
        (
            write_revision(
                folder,
                "slowindex",
                "dropcreated",
                SLOW_KEY + slow_index("ix_probe_slow"),
                needs="postv4",
            ),
            POST_DEPLOY,
        ),
    ):
        files[path.name] = f"{where}/{path.name}"
    release(f"{IMAGE}:swarm-v2", "swarm-v4", folder, files)

    folder = readable_folder("e2e-post-")
    overrun = write_revision(folder, "overrunv5", "postv4", slow_index("ix_probe_v5"))
    release(
        f"{IMAGE}:swarm-v4",
        "swarm-v5",
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


def test_rolling_schema_change_without_a_failed_request_then_a_failed_migration_rolls_back(
    swarm: None,
) -> None:
    release_with_probe("swarm-v1")
    release_with_revision(
        "swarm-v1",
        "swarm-v2",
        "swarmv2",
        PROBE_REVISION,
        'op.add_column("probe_items", sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True))',
    )
    release_with_revision(
        "swarm-v2",
        "swarm-v3",
        "swarmv3",
        "swarmv2",
        """
        op.execute("CREATE TABLE swarm_half_done (id int)")
        raise RuntimeError("v3 fails on purpose")
        """,
    )

    # v1: three replicas on a fresh database, migrated once (already there, when the test
    # above ran: the same image, nothing to update).
    deploy_and_wait("swarm-v1")
    assert psql("SELECT version_num FROM alembic_version") == PROBE_REVISION
    create_items(*(f"v1 record {i}" for i in range(20)))
    before = int(psql("SELECT count(*) FROM probe_items"))
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
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'probe_items' AND column_name = 'archived_at'"
        )
        == "1"
    )
    logs = web_logs()
    assert logs.count(f"Running upgrade {PROBE_REVISION} -> swarmv2") == 1, logs[-3000:]
    assert int(psql("SELECT count(*) FROM probe_items")) == before + v2["writes"]
    assert int(psql("SELECT count(*) FROM probe_items WHERE name LIKE 'v1 record %'")) == 20

    # Back to v1's image under traffic: its replicas start on v2's schema, ahead of their code.
    started = time.monotonic()
    with Traffic() as traffic:
        sh("docker", "service", "rollback", "--detach", WEB)
        wait_until(
            lambda: update_state() == "rollback_completed",
            "the rollback",
            timeout=300,
            interval=0.25,
        )
        time.sleep(3)
    back = traffic.summary
    print(
        f"\nrollback to v1 in {time.monotonic() - started:.0f}s: {back['reads']} reads, "
        f"{back['writes']} writes, {len(back['failures'])} failed"
    )
    assert back["failures"] == [], back["failures"][:20]
    assert back["reads"] > 20 and back["writes"] > 20
    assert_all_replicas_on("swarm-v1")
    assert psql("SELECT version_num FROM alembic_version") == "swarmv2"
    assert (
        f"database ahead, at swarmv2; this code's head is {PROBE_REVISION}; serving without migrating"
        in web_logs()
    )

    # v3: its migration fails; the update rolls back and v1 keeps serving throughout.
    v3 = roll_out("swarm-v3")
    assert update_state() == "rollback_completed"
    assert v3["failures"] == [], v3["failures"][:20]
    assert v3["reads"] > 20
    assert_all_replicas_on("swarm-v1")
    assert psql("SELECT version_num FROM alembic_version") == "swarmv2"
    assert psql("SELECT to_regclass('swarm_half_done')") == ""


def test_post_deploy_revisions_run_after_the_rollout_and_an_overrun_rolls_back(swarm: None) -> None:
    """On the stack the test above leaves (v1 serving after the rollback, on v2's schema):
    v4's code no longer reads created_at; it brings a deploy-time revision and two post-deploy
    ones, the drop of created_at, which v1 and v2 still read, and an index whose build takes INDEX_SECONDS, longer
    than the replicas' healthcheck window (START_PERIOD, then 16 failed checks a second
    apart). v5 builds the same kind of index in a deploy-time revision, with
    MIGRATE_ON_START_TIMEOUT=5."""
    assert_all_replicas_on("swarm-v1")  # the stack the test above leaves: run the file whole
    os.environ["WEB_START_PERIOD"] = START_PERIOD  # the stack's healthcheck, for every deploy
    try:
        release_v4_v5()

        # v4: the rollout, then the post-deploy revisions, under traffic.
        with Traffic() as traffic:
            deploying = subprocess.Popen(
                DEPLOY, cwd=ROOT, env=deploy_env("swarm-v4"), stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True,
            )  # fmt: skip
            seen = watch_the_job(deploying)
            output = deploying.communicate(timeout=INDEX_SECONDS + 600)[0]
        assert deploying.returncode == 0, output
        assert traffic.summary["failures"] == [], traffic.summary["failures"][:20]
        assert traffic.summary["reads"] > 50 and traffic.summary["writes"] > 50
        assert update_state() == "completed"
        assert_all_replicas_on("swarm-v4")

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

        # v5: its deploy-time index build overruns MIGRATE_ON_START_TIMEOUT: cancelled
        # cleanly, the replica exits 1 (never killed), the update rolls back.
        v5 = roll_out("swarm-v5")
        assert update_state() == "rollback_completed"
        assert v5["failures"] == [], v5["failures"][:20]
        assert_all_replicas_on("swarm-v4")
        assert psql("SELECT version_num FROM alembic_version") == "postv4"
        assert psql("SELECT count(*) FROM pg_index WHERE NOT indisvalid") == "0"
        assert psql("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == "0"
        assert "ran over MIGRATE_ON_START_TIMEOUT (5 s)" in web_logs()
        exits = {
            task["Status"].get("ContainerStatus", {}).get("ExitCode")
            for task in tasks(WEB)
            if task["Spec"]["ContainerSpec"]["Image"].endswith(":swarm-v5")
        }
        # The one that overran exits 1; one the rollback stops (SIGTERM) may exit 0; none
        # is killed (137).
        assert 1 in exits and exits <= {0, 1}, exits
    finally:
        del os.environ["WEB_START_PERIOD"]
