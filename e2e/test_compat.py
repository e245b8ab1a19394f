"""make compat, for real: the old code's image, its API checks, the working tree's revisions.

On a copy of this checkout made a git repository whose HEAD (the "old" release) has the
probe resource in web/api/ and its table's revision, each test adds a revision on top and
runs `make compat`: renaming or dropping a column the old code uses, or making a column it
does not write NOT NULL, fails naming the operation and the database's error; adding a
nullable column passes. A post-deploy revision is checked against the working tree's code:
dropping a column that code still reads fails. The copy runs under this suite's compose project name (E2E_PROJECT),
so its tools image is reused and its throwaway stack is `<project>-compat`.
"""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.compose import CODE_HEAD, PROJECT, ROOT, built_image
from harness.gitrepo import fresh_copy, without_base_ref
from harness.revisions import PROBE_MODULE, PROBE_REVISION, write_probe_revision, write_revision

VERSIONS = Path("migrations/versions")
POST_DEPLOY = Path("migrations/post_deploy")
BREAKING = "compat0001"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=compat", "-c", "user.email=compat@example.com", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.strip()


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The copy: commit 1 is this checkout as it is (uncommitted files included), commit 2
    (HEAD, branch main) adds the probe resource and its table."""
    built_image("tools")
    copy = tmp_path_factory.mktemp("compat") / "repo"
    repo = fresh_copy(ROOT, copy, "main")
    shutil.copy(PROBE_MODULE, copy / "web/api/probe.py")
    write_probe_revision(copy / VERSIONS, CODE_HEAD)
    repo.commit("the probe resource: the old release")
    return copy


def make_compat(repo: Path, *args: str) -> subprocess.CompletedProcess:
    """`make compat`, its stdout and stderr together."""
    return subprocess.run(
        ["make", "--no-print-directory", "compat", *args],
        cwd=repo,
        env={**without_base_ref(dict(os.environ)), "COMPOSE_PROJECT_NAME": PROJECT},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )


def compat_with_revision(repo: Path, upgrade: str) -> subprocess.CompletedProcess:
    """`make compat against=HEAD` with an uncommitted revision on top of the probe's."""
    revision = write_revision(repo / VERSIONS, BREAKING, PROBE_REVISION, upgrade)
    try:
        return make_compat(repo, "against=HEAD")
    finally:
        revision.unlink()


def assert_names_the_failure(
    result: subprocess.CompletedProcess,
    error: str,
    broken: str = "the working tree's revisions break the code of",
) -> None:
    """Failed, saying what `broken`, naming the operation, its status and the code's error."""
    out = result.stdout
    assert result.returncode != 0, out
    assert broken in out, out
    assert "  POST /api/probe/items -> 500 (Server error)" in out, out
    errors = [
        line for line in out.splitlines() if line.startswith("  POST /api/probe/items -> 500: ")
    ]
    assert any(error in line for line in errors), out


def test_a_revision_that_adds_a_nullable_column_passes(repo: Path) -> None:
    result = compat_with_revision(
        repo, 'op.add_column("probe_items", sa.Column("note", sa.Text()))'
    )
    assert result.returncode == 0, result.stdout
    assert "compat: ok: the code of HEAD" in result.stdout


def test_a_committed_rename_of_a_column_the_old_code_uses_fails_against_the_merge_base(
    repo: Path,
) -> None:
    """On a branch, with no `against`: the old code is the merge base with main."""
    base = git(repo, "rev-parse", "--short", "HEAD")
    git(repo, "checkout", "-q", "-b", "rename")
    try:
        write_revision(
            repo / VERSIONS,
            BREAKING,
            PROBE_REVISION,
            'op.alter_column("probe_items", "name", new_column_name="title")',
        )
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "rename name to title")
        result = make_compat(repo)
    finally:
        git(repo, "checkout", "-q", "-f", "main")
        git(repo, "branch", "-q", "-D", "rename")
    assert f"building the image of {base}" in result.stdout
    assert_names_the_failure(result, 'column "name" of relation "probe_items" does not exist')


def test_a_revision_that_drops_a_column_the_old_code_reads_fails(repo: Path) -> None:
    result = compat_with_revision(repo, 'op.drop_column("probe_items", "created_at")')
    assert_names_the_failure(result, "column probe_items.created_at does not exist")


def test_a_revision_that_makes_a_column_the_old_code_does_not_write_not_null_fails(
    repo: Path,
) -> None:
    """The one-step way to a NOT NULL column: filled by a default, which is then dropped."""
    upgrade = """
        op.add_column("probe_items", sa.Column("note", sa.Text(), nullable=False, server_default=""))
        op.alter_column("probe_items", "note", server_default=None)
    """
    result = compat_with_revision(repo, upgrade)
    assert_names_the_failure(result, 'null value in column "note" of relation "probe_items"')


def test_a_post_deploy_drop_of_a_column_the_new_code_reads_fails(repo: Path) -> None:
    """The old code passes (nothing deploy-time changed); the working tree's code, which
    still reads created_at, fails once the post-deploy drop is applied."""
    drop = 'op.drop_column("probe_items", "created_at")'
    revision = write_revision(repo / POST_DEPLOY, BREAKING, None, drop, needs=PROBE_REVISION)
    try:
        result = make_compat(repo, "against=HEAD")
    finally:
        revision.unlink()
    assert "compat: ok: the code of HEAD (" in result.stdout, result.stdout
    assert_names_the_failure(
        result,
        "column probe_items.created_at does not exist",
        "the post-deploy revisions break the working tree's code",
    )


def test_no_revision_since_the_ref_passes_at_once(repo: Path) -> None:
    result = make_compat(repo, "against=HEAD")
    assert result.returncode == 0, result.stdout
    assert "no schema change to check" in result.stdout
    assert "building" not in result.stdout


def test_an_unknown_ref_is_one_clear_error(repo: Path) -> None:
    result = make_compat(repo, "against=no-such-release")
    assert result.returncode != 0
    assert "compat: error: unknown git ref: no-such-release" in result.stdout
    assert "building" not in result.stdout
