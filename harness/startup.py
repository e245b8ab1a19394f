"""The start-up step and the settings it loads, as the tests drive them."""

import os
import subprocess
import sys

from web.base.config import Settings, load_settings

# The least environment that loads.
GOOD = {"DATABASE_URL": "postgresql://app:secret@db:5432/app", "SECRET_KEY": "k"}


def settings(**env: str) -> Settings:
    return load_settings({**GOOD, **env})


def startup(**env: str) -> subprocess.CompletedProcess:
    """`python -m web.container.startup` in this environment, plus `env`."""
    return subprocess.run(
        [sys.executable, "-m", "web.container.startup"],
        env={**os.environ, "DB_WAIT_TIMEOUT": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in errors[0]
