"""A copy of the app to add test revisions and modules to, and commands run in it."""

import os
import shutil
import subprocess
from pathlib import Path

from alembic.config import Config
from flask import Flask

from harness.database import database_env
from web.app import create_app
from web.base.config import load_settings
from web.base.paths import ALEMBIC_INI, ROOT


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def app_for(dbname: str, **env: str) -> Flask:
    return create_app(load_settings({**os.environ, **database_env(dbname), **env}))


def copy_of_the_app(folder: Path) -> Path:
    """The app, its migrations and their tools, in `folder`, to add test revisions to."""
    for name in ("web", "migrations"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("alembic.ini", ".squawk.toml"):
        shutil.copy(ROOT / name, folder)
    return folder


def run_in(app: Path, *command: str, database: str, **env: str) -> subprocess.CompletedProcess:
    """`command` (alembic, python, ...) run in the copy `app`, on database `database`."""
    return subprocess.run(
        command,
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **database_env(database), "PYTHONPATH": str(app), **env},
    )
