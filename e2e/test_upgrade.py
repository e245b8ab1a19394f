"""make upgrade on one host, and make post-migrate (web/ops/upgrade.py, web/ops/post_migrate.py).

Without the proxy, make upgrade says it recreates web, with a gap. Behind Caddy (the suite's
stack with compose.proxy.yml, harness/proxy.py), under steady reads and writes over HTTPS:
an image with a new revision replaces the running one with no failed request, every request
answered by the old container or the new one; an image whose migration fails leaves the old
one serving, still with no failed request, and the command fails with the reason. Last, a
post-deploy revision waits while a container of the older code runs, and is applied once it
is gone.
"""

import subprocess
from collections.abc import Iterator

import pytest

from harness.compose import BASE, Stack, head_revision, readable_folder
from harness.proxy import behind_the_proxy, caddy_ca
from harness.revisions import PROBE_REVISION
from harness.upgrade import IMAGE, Logs, Traffic, make, release, upgrade, web_containers
from harness.waiting import answers
from web.ops.orchestrator import inspect

V2 = {"upgradev2": (PROBE_REVISION, 'op.execute("ALTER TABLE probe_items ADD COLUMN legacy text")')}
V3 = {
    "upgradev3": (
        "upgradev2",
        'op.execute("CREATE TABLE upgrade_half_done (id int)")\n'
        'raise RuntimeError("v3 fails on purpose")',
    )
}
# v2's contract: a post-deploy revision that drops the column v2's own revision added.
CONTRACT = {
    "contractv2": (None, 'op.execute("ALTER TABLE probe_items DROP COLUMN legacy")', "upgradev2")
}


def column_exists(stack: Stack, column: str) -> bool:
    found = stack.psql(
        "SELECT count(*) FROM information_schema.columns "
        f"WHERE table_name = 'probe_items' AND column_name = '{column}'"
    )
    return found == "1"


def test_what_is_gone_since_it_was_listed_is_left_out(running: Stack) -> None:
    """The tools list what runs, then inspect it: a task swarm pruned from its history or a
    container removed in between has ended, and is left out rather than failing the command."""
    [web] = web_containers(running)
    gone = "0123456789ab"
    assert [found["Id"][:12] for found in inspect(gone, web, gone)] == [web[:12]]
    assert inspect(gone) == []


def test_without_the_proxy_it_says_it_recreates_web_with_a_gap(running: Stack) -> None:
    built = make(running, "upgrade")  # builds the working tree's image: the suite's own
    assert built.returncode == 0, built.stderr
    assert "no proxy in front (compose.proxy.yml is not in use)" in built.stderr
    release("e2e-upgrade-plain")  # the same code under another tag: web is recreated
    before = web_containers(running)
    result = upgrade(running, "e2e-upgrade-plain")
    assert result.returncode == 0, result.stderr
    assert "two containers cannot share that port" in result.stderr
    assert web_containers(running) != before
    assert answers(f"{BASE}/readyz")


def test_a_release_step_of_its_own(running: Stack) -> None:
    """docs/deploying.md's third path: MIGRATE_ON_START=false, and the migrations run by a
    step before the rollout and one after it."""
    release(
        "e2e-step-v2",
        deploy={
            "stepv2": (PROBE_REVISION, 'op.execute("ALTER TABLE probe_items ADD COLUMN step text")')
        },
        post={
            "stepcontract": (
                None,
                'op.execute("ALTER TABLE probe_items DROP COLUMN step")',
                "stepv2",
            )
        },
    )
    folder = readable_folder("e2e-step-")
    (folder / "overlay.yml").write_text(
        'services:\n  web:\n    environment:\n      MIGRATE_ON_START: "false"\n'
    )
    step = running.with_overlay(folder / "overlay.yml")
    try:
        step.compose("run", "--rm", "web", "alembic", "upgrade", "head", WEB_TAG="e2e-step-v2")
        assert head_revision(step) == "stepv2" and column_exists(step, "step")
        step.compose("up", "-d", "--wait", "--no-deps", "web", WEB_TAG="e2e-step-v2")
        assert "MIGRATE_ON_START is false: not migrating" in step.logs("web")
        assert answers(f"{BASE}/readyz")
        step.compose(
            "run", "--rm", "web", "alembic", "-n", "post", "upgrade", "head", WEB_TAG="e2e-step-v2"
        )
        assert step.psql("SELECT version_num FROM alembic_version_post") == "stepcontract"
        assert not column_exists(step, "step")
    finally:
        # Back where the suite's image is (it does not know these revisions), without a
        # new database: the release's image takes its revisions down (their downgrades do
        # nothing), then web runs the suite's image again.
        back_to_the_suite(running, "e2e-step-v2")
    assert head_revision(running) == PROBE_REVISION


def back_to_the_suite(stack: Stack, tag: str) -> None:
    """The database back at the suite's head, and web on the suite's image, without a new
    database: the release `tag` takes its revisions down (their downgrades do nothing; each
    contract dropped what its expand added). Else a new database."""
    for env in (["-n", "post"], []):
        target = "base" if env else PROBE_REVISION
        down = stack.compose(
            "run", "--rm", "--no-deps", "web", "alembic", *env, "downgrade", target,
            WEB_TAG=tag, check=False,
        )  # fmt: skip
        if down.returncode != 0:
            stack.fresh()
            return
    stack.up("--no-deps", "web")


@pytest.fixture(scope="module")
def proxied(stack: Stack) -> Iterator[Stack]:
    with behind_the_proxy(stack, restore=False) as proxied:
        yield proxied
    back_to_the_suite(stack, "e2e-upgrade-v2post")


@pytest.fixture(scope="module")
def ca(proxied: Stack) -> str:
    return caddy_ca(proxied)


def test_an_upgrade_with_a_migration_fails_no_request(proxied: Stack, ca: str) -> None:
    release("e2e-upgrade-v2", deploy=V2)
    logs = Logs()
    logs.follow(proxied)
    [old] = web_containers(proxied)
    with Traffic(ca) as traffic:
        result = upgrade(proxied, "e2e-upgrade-v2")
        logs.follow(proxied)
    assert result.returncode == 0, result.stderr
    assert traffic.failures == {}, list(traffic.failures.items())[:20]
    assert len(traffic.answers) > 100
    [new] = web_containers(proxied)
    assert new != old
    assert head_revision(proxied) == "upgradev2"
    # Every request was answered by the old container or the new one, and by one only.
    served = logs.served()
    assert set(traffic.answers) <= served[old] | served[new]
    assert served[old] and served[new] and not served[old] & served[new]
    assert "done: new container(s) ready" in result.stderr


def test_an_upgrade_whose_migration_fails_leaves_the_old_one_serving(
    proxied: Stack, ca: str
) -> None:
    release("e2e-upgrade-v3", base=f"{IMAGE}:e2e-upgrade-v2", deploy=V3)
    [old] = web_containers(proxied)
    with Traffic(ca) as traffic:
        result = upgrade(proxied, "e2e-upgrade-v3")
    assert result.returncode != 0
    assert "error: migration failed: RuntimeError: v3 fails on purpose" in result.stderr
    assert "the old container(s) keep serving, the new removed" in result.stderr
    assert traffic.failures == {}, list(traffic.failures.items())[:20]
    assert len(traffic.answers) > 50
    assert web_containers(proxied) == [old]
    assert head_revision(proxied) == "upgradev2"
    assert proxied.psql("SELECT to_regclass('upgrade_half_done')") == ""


def test_a_post_deploy_revision_waits_for_the_older_code_to_go(proxied: Stack) -> None:
    release("e2e-upgrade-v2post", base=f"{IMAGE}:e2e-upgrade-v2", post=CONTRACT)
    assert upgrade(proxied, "e2e-upgrade-v2post").returncode == 0
    # A container of v2 (which lacks the contract) still runs: a one-off, as a worker would.
    older = proxied.compose(
        "run", "-d", "--no-deps", "-e", "MIGRATE_ON_START=false", "web", WEB_TAG="e2e-upgrade-v2"
    ).stdout.strip()
    try:
        waiting = make(proxied, "post-migrate", WEB_TAG="e2e-upgrade-v2post")
        assert waiting.returncode != 0, waiting.stderr
        assert "lacks post-deploy revision(s) contractv2" in waiting.stderr
        assert "-web-run-" in waiting.stderr  # the one-off, named
        assert column_exists(proxied, "legacy")
    finally:
        subprocess.run(["docker", "rm", "-f", older], capture_output=True, timeout=60, check=False)
    applied = make(proxied, "post-migrate", WEB_TAG="e2e-upgrade-v2post")
    assert applied.returncode == 0, applied.stderr
    assert "applied up to heads" in applied.stderr
    assert not column_exists(proxied, "legacy")
    assert proxied.psql("SELECT version_num FROM alembic_version_post") == "contractv2"
    assert head_revision(proxied) == "upgradev2"  # the deploy-time one, untouched
