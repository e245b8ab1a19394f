"""What a copy of the template gets. Made as a team makes one (`git init`, one commit, on a
branch that is not main: `trunk`), make compat and make lint-migrations pass there with
nothing to compare, and on a branch of it take the target from the CI's environment. make
names a Docker too old for the project in one line. And the repository holds no binary
over 100 KB for every copy to inherit."""

import os
import subprocess
from pathlib import Path

from harness.compose import CODE_HEAD, PROJECT, ROOT
from harness.gitrepo import GIT_ENV, Repo, fresh_copy, without_base_ref
from harness.revisions import PROBE_REVISION, write_probe_revision


def shell_env(**env: str) -> dict[str, str]:
    """A person's shell: no CI base ref, and not inside `make e2e` (MAKELEVEL, MAKEFLAGS)."""
    outside = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    return {**without_base_ref(outside), **env}


def run_in(repo: Repo, *command: str, **env: str) -> subprocess.CompletedProcess:
    """`command` in the copy, on the e2e project's images (the copy builds none of its own)."""
    return subprocess.run(
        command,
        cwd=repo.path,
        env=shell_env(COMPOSE_PROJECT_NAME=PROJECT, **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def make(repo: Repo, *args: str, **env: str) -> subprocess.CompletedProcess:
    return run_in(repo, "make", "-s", *args, **env)


def test_one_commit_on_trunk_has_nothing_to_compare(tmp_path: Path) -> None:
    repo = fresh_copy(ROOT, tmp_path / "yours", "trunk")
    compat = make(repo, "compat")
    assert compat.returncode == 0, compat.stdout + compat.stderr
    assert "no schema change to check" in compat.stdout
    assert "nothing before it to compare with" in compat.stderr
    lint = make(repo, "lint-migrations")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "no new revisions to lint" in lint.stdout


def test_a_branch_is_linted_against_the_target_the_ci_names(tmp_path: Path) -> None:
    repo = fresh_copy(ROOT, tmp_path / "yours", "trunk")
    repo.git("checkout", "--quiet", "-b", "feature")
    revision = write_probe_revision(repo.path / "migrations" / "versions", CODE_HEAD)
    repo.commit("A table", str(revision.relative_to(repo.path)))
    repo.commit("Something else", "NOTES")
    # Without a main branch or a remote, the base is HEAD~1: the revision is older.
    alone = make(repo, "lint-migrations")
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "no new revisions to lint" in alone.stdout
    for variable in ("GITHUB_BASE_REF", "BASE_BRANCH"):
        told = make(repo, "lint-migrations", **{variable: "trunk"})
        assert told.returncode == 0, told.stdout + told.stderr
        assert f"squawk on {PROBE_REVISION}" in told.stdout


def test_the_git_hook_refuses_a_commit_that_fails_a_check(tmp_path: Path) -> None:
    """make hooks, then git commit: the hooks run in the tools image, on the staged files."""
    repo = fresh_copy(ROOT, tmp_path / "yours", "trunk")
    installed = make(repo, "hooks")
    assert installed.returncode == 0, installed.stderr
    module = repo.path / "web" / "extra.py"
    module.write_text('import os\n\nNAME = "extra"\n')  # os: imported, never used (F401)
    repo.git("add", "web/extra.py")

    def commit() -> subprocess.CompletedProcess:
        return run_in(
            repo, "git", "commit", "-q", "--no-gpg-sign", "-m", "An extra module", **GIT_ENV
        )

    refused = commit()
    assert refused.returncode != 0
    assert "F401" in refused.stdout + refused.stderr
    module.write_text('NAME = "extra"\n')
    repo.git("add", "web/extra.py")
    accepted = commit()
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert "ruff (lint)" in accepted.stdout + accepted.stderr
    assert repo.git("log", "-1", "--format=%s") == "An extra module"


def test_make_names_a_docker_too_old_in_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\ncase "$*" in version*) echo 19.03.15 ;; esac\n')
    fake.chmod(0o755)
    result = subprocess.run(
        ["make", "build"],
        cwd=ROOT,
        env=shell_env(PATH=f"{tmp_path}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    [line] = result.stderr.splitlines()
    assert "Docker Engine 19.03.15 is too old: 20.10 or newer is needed" in line
    assert result.stdout == ""


LIMIT = 100 * 1024


def binaries_over(checkout: Path, limit: int) -> list[str]:
    """The files git tracks in `checkout` that are binary (a NUL byte in their first 8000
    bytes, git's own test) and larger than `limit` bytes."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=checkout, capture_output=True, check=True, timeout=60
    ).stdout.decode()
    found = []
    for name in filter(None, listed.split("\0")):
        path = checkout / name
        if path.is_file() and path.stat().st_size > limit:
            with path.open("rb") as file:
                if b"\0" in file.read(8000):
                    found.append(name)
    return found


def test_no_binary_over_100_kb_is_tracked(tmp_path: Path) -> None:
    assert binaries_over(ROOT, LIMIT) == []
    # The check itself, on a repository that has one (and a large text file, which is fine).
    repo = Repo(tmp_path / "other", "main")
    (repo.path / "tool.whl").write_bytes(b"PK\3\4\0" * 30_000)
    (repo.path / "big.lock").write_text("a = 1\n" * 30_000)
    repo.commit("Two large files")
    assert binaries_over(repo.path, LIMIT) == ["tool.whl"]
