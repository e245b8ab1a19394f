"""Git repositories of the tests' own: a new one on any branch name, and a fresh copy of
this checkout as a team makes it (its files, as they are now, in one commit).
Standard library only: e2e uses it on the host."""

import os
import shutil
import subprocess
from pathlib import Path

# Whoever runs the tests: their git configuration stays out (signing, hooks, a default branch).
GIT_ENV = {
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
}
# What scripts/base_ref.sh takes from a CI (or a person): a test sets these itself.
BASE_REF_VARIABLES = (
    "GITHUB_BASE_REF",
    "CI_MERGE_REQUEST_DIFF_BASE_SHA",
    "CI_MERGE_REQUEST_TARGET_BRANCH_NAME",
    "BASE_BRANCH",
)


def without_base_ref(env: dict[str, str]) -> dict[str, str]:
    """`env` less the variables scripts/base_ref.sh reads."""
    return {name: value for name, value in env.items() if name not in BASE_REF_VARIABLES}


class Repo:
    """A new repository in `path` (created), on branch `branch`."""

    def __init__(self, path: Path, branch: str) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet")
        self.git("symbolic-ref", "HEAD", f"refs/heads/{branch}")

    def git(self, *args: str) -> str:
        result = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env={**os.environ, **GIT_ENV},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return result.stdout.strip()

    def commit(self, message: str, *files: str) -> str:
        """Commit `files` (written with their own name as content unless they exist; none:
        everything), and return the new commit's short id."""
        for name in files:
            if not (self.path / name).exists():
                (self.path / name).write_text(name)
        self.git("add", *(files or ["--all"]))
        self.git("commit", "--quiet", "--no-gpg-sign", "--no-verify", "-m", message)
        return self.git("rev-parse", "--short", "HEAD")


def fresh_copy(checkout: Path, path: Path, branch: str) -> Repo:
    """The files of `checkout` that git does not ignore, as they are in its working tree
    (uncommitted ones too), in a new repository of one commit on `branch`."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=checkout,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    repo = Repo(path, branch)
    for name in filter(None, listed.split("\0")):
        source = checkout / name
        if source.is_file():  # not one deleted in the working tree
            (path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, path / name)
    repo.commit("A copy of the template")
    return repo
