"""Zero-downtime deploys on a single-node Docker Swarm, with deploy/stack.yml and deploy/deploy.sh
(the swarm and its helpers: harness/swarm.py).

v1 is the image this project's compose built, plus the probe resource; v2 adds a
revision with a nullable column to the probe's table (backward compatible), and is then
rolled back to v1 (`docker service rollback`), whose replicas start on v2's schema; v3 adds
a revision that fails. Steady reads and writes run throughout. First, v1 as deployed is
looked at as an auditor would: every service confined, the networks closed, the roles.
"""

import json
import subprocess
import time

from harness.revisions import PROBE_REVISION
from harness.security import assert_rows_only, capabilities, confinement, role_check
from harness.swarm import (
    NETWORKS,
    STACK,
    TOOLS,
    WEB,
    Traffic,
    assert_all_replicas_on,
    create_items,
    deploy_and_wait,
    psql,
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
