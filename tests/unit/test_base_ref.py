"""scripts/base_ref.sh picks the code that runs before a change, in any copy of the repository:
one commit on any branch name, a branch off the default one, and a CI's pull request."""

import os
import subprocess
from pathlib import Path

import pytest

from harness.gitrepo import Repo, without_base_ref
from web.base.paths import ROOT

SCRIPT = ROOT / "scripts" / "base_ref.sh"


def base_ref(repo: Repo, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["sh", str(SCRIPT)],
        cwd=repo.path,
        env={**without_base_ref(dict(os.environ)), **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.fixture
def trunk(tmp_path: Path) -> Repo:
    return Repo(tmp_path / "copy", "trunk")


def test_one_commit_on_any_branch_is_its_own_base(trunk: Repo) -> None:
    first = trunk.commit("a", "a")
    result = base_ref(trunk)
    assert (result.returncode, result.stdout.strip()) == (0, first), result.stderr
    assert "nothing before it to compare with" in result.stderr


def test_on_the_only_branch_the_base_is_the_commit_before(trunk: Repo) -> None:
    first = trunk.commit("a", "a")
    trunk.commit("b", "b")
    result = base_ref(trunk)
    assert (result.returncode, result.stdout.strip()) == (0, first), result.stderr


def test_a_branch_is_compared_with_where_it_left_main(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "copy", "main")
    fork = repo.commit("a", "a")
    repo.git("checkout", "--quiet", "-b", "feature")
    repo.commit("b", "b")
    repo.commit("c", "c")
    repo.git("checkout", "--quiet", "main")
    repo.commit("d", "d")
    repo.git("checkout", "--quiet", "feature")
    result = base_ref(repo)
    assert (result.returncode, result.stdout.strip()) == (0, fork), result.stderr


def test_the_ci_names_the_target_branch(trunk: Repo) -> None:
    fork = trunk.commit("a", "a")
    trunk.git("checkout", "--quiet", "-b", "feature")
    trunk.commit("b", "b")
    last = trunk.commit("c", "c")
    # No main, no remote: without the CI's word, the commit before the last one.
    assert base_ref(trunk).stdout.strip() != fork
    for variable in ("GITHUB_BASE_REF", "CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "BASE_BRANCH"):
        result = base_ref(trunk, **{variable: "trunk"})
        assert (result.returncode, result.stdout.strip()) == (0, fork), (variable, result.stderr)
    result = base_ref(trunk, CI_MERGE_REQUEST_DIFF_BASE_SHA=last)
    assert (result.returncode, result.stdout.strip()) == (0, last), result.stderr


def test_a_target_branch_that_is_not_fetched_is_one_clear_line(trunk: Repo) -> None:
    trunk.commit("a", "a")
    result = base_ref(trunk, GITHUB_BASE_REF="release")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "base_ref: error: the target branch release is not fetched (check out with fetch-depth: 0)"
    ]
