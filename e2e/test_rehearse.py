"""make rehearse end to end: in a clone of this checkout with a revision of the test's own
pending, its throwaway stack comes up, the report and the verdict come out (prod_rows
passed through), and the stack is gone after. (tests/test_rehearse.py holds the report to
its judgements at a million rows.)"""

import os
import subprocess
from pathlib import Path

from harness.compose import PROJECT, ROOT, built_image
from harness.revisions import write_revision
from web.base.revisions import code_revisions

TABLE = 'op.execute("CREATE TABLE rehearse_e2e (id serial PRIMARY KEY, name text NOT NULL)")'


def run(*command: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    # The tools image of the e2e project (built_image), whatever the clone's folder is called.
    env = {**os.environ, "COMPOSE_PROJECT_NAME": PROJECT}
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def test_make_rehearse_reports_the_pending_revision_and_removes_its_stack(tmp_path: Path) -> None:
    built_image("tools")
    clone = tmp_path / "rehearse-e2e"
    assert run("git", "clone", "--quiet", str(ROOT), str(clone), cwd=tmp_path).returncode == 0
    versions = clone / "migrations" / "versions"
    head = next(iter(code_revisions(versions)[1]), None)
    # The base, committed (what production runs), then the change, not yet committed: an
    # index, and a pause that keeps its lock for the sampler to see at any table size.
    write_revision(versions, "e2e_base", head, TABLE)
    git = ("git", "-c", "user.name=e2e", "-c", "user.email=e2e@example.com")
    for args in (("add", "-A"), ("commit", "-q", "-m", "base")):
        done = run(*git, *args, cwd=clone)
        assert done.returncode == 0, done.stderr
    change = """
    op.execute("CREATE INDEX ix_e2e ON rehearse_e2e (name)")
    op.execute("SELECT pg_sleep(0.3)")
    """
    write_revision(versions, "e2e_change", "e2e_base", change)

    result = run(
        "make",
        "rehearse",
        "against=HEAD",
        "rows=20000",
        "prod_rows=2000000",
        cwd=clone,
        timeout=600,
    )

    # Flagged for what it does, however fast it ran: writes wait while the table is read.
    assert result.returncode != 0, result.stdout + result.stderr  # make's 2 for the driver's 1
    assert "pending after the base (e2e_base): e2e_change" in result.stderr
    assert "filled rehearse_e2e with 20,000 rows" in result.stderr
    assert "revision e2e_change: applied in" in result.stdout
    assert "projected to 2,000,000 rows" in result.stdout
    row = next(line for line in result.stdout.splitlines() if line.startswith("  rehearse_e2e "))
    assert row.split()[1] == "ShareLock"  # the plain index's lock
    assert "ShareLock on rehearse_e2e held while its 20,000 rows were read" in result.stdout
    assert "rehearse: OVER BUDGET" in result.stdout
    leftovers = run(
        "sh", "-c", "docker ps -aq --filter label=com.docker.compose.project=rehearse-e2e-rehearse;"
        " docker volume ls -q --filter label=com.docker.compose.project=rehearse-e2e-rehearse",
        cwd=clone,
    )  # fmt: skip
    assert leftovers.stdout.strip() == ""
