"""scripts/check_docker.sh (make's first step): the minimum Docker Engine and Compose, or one
line naming what is missing, against a stand-in `docker` that reports the given versions."""

import shutil
import subprocess
from pathlib import Path

import pytest

from web.base.paths import ROOT

FAKE = """#!/bin/sh
case "$*" in
    version*) [ -n "{engine}" ] && echo "{engine}" || exit 1 ;;
    "compose version --short") [ -n "{compose}" ] && echo "{compose}" || exit 1 ;;
esac
"""


def check(tmp_path: Path, engine: str | None, compose: str = "") -> subprocess.CompletedProcess:
    if engine is not None:
        docker = tmp_path / "docker"
        docker.write_text(FAKE.format(engine=engine, compose=compose))
        docker.chmod(0o755)
    # Only awk besides the stand-in on PATH: the host's own docker stays out of it.
    (tmp_path / "awk").symlink_to(shutil.which("awk") or "/usr/bin/awk")
    return subprocess.run(
        [shutil.which("sh") or "/bin/sh", str(ROOT / "scripts" / "check_docker.sh")],
        env={"PATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize(
    ("engine", "compose"),
    [("20.10.24+dfsg1", "5.6.1"), ("28.2.2", "v2.24.0-desktop.1"), ("20.10.0", "2.24.0")],
)
def test_new_enough_passes_quietly(tmp_path: Path, engine: str, compose: str) -> None:
    result = check(tmp_path, engine, compose)
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


@pytest.mark.parametrize(
    ("engine", "compose", "problem"),
    [
        (None, "", "docker not found: install Docker Engine 20.10 or newer"),
        ("", "", "Docker Engine is not running, or this user may not use it"),
        ("19.03.15", "2.30.0", "Docker Engine 19.03.15 is too old: 20.10 or newer is needed"),
        ("27.0.1", "", "the Docker Compose plugin is missing (docker compose)"),
        ("27.0.1", "2.23.3", "Docker Compose 2.23.3 is too old: 2.24.0 or newer is needed"),
        ("27.0.1", "v1.29.2", "Docker Compose v1.29.2 is too old: 2.24.0 or newer is needed"),
    ],
)
def test_too_old_or_missing_is_one_line(
    tmp_path: Path, engine: str | None, compose: str, problem: str
) -> None:
    result = check(tmp_path, engine, compose)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert problem in line
    assert line.endswith("(README: requirements)")
