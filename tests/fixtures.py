"""Fixtures for every test (loaded by the root conftest.py): real PostgreSQL databases
on the compose stack's server.

Tests never touch the app's own database. Each suite gets a database of its
own, named after the configured one (`app` -> `app_test`, `app_test_<name>`),
dropped and created afresh, and the test process's DATABASE_URL points at it.
"""

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from urllib.parse import quote

import psycopg2
import pytest
from alembic import command
from alembic.config import Config
from flask import Flask
from flask.testing import FlaskClient
from psycopg2 import sql

from web.app import create_app
from web.app.db import db
from web.config import DatabaseURL, load_settings
from web.container.schema_version import ALEMBIC_INI, ROOT

SERVER: DatabaseURL = load_settings().database
TEST_DB = f"{SERVER.dbname}_test"


def database_url(name: str) -> str:
    """A DATABASE_URL for database `name` on the test server (the password stays in DATABASE_PASSWORD)."""
    user = quote(SERVER.user or "", safe="")
    return f"postgresql://{user}@{SERVER.host}:{SERVER.port}/{name}"


def admin_connection(dbname: str = "postgres"):
    connection = psycopg2.connect(**{**SERVER.connect_kwargs(), "dbname": dbname})
    connection.autocommit = True
    return connection


def recreate_database(name: str) -> str:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def query(dbname: str, statement: str, *args: object) -> list[tuple]:
    connection = admin_connection(dbname)
    try:
        with connection.cursor() as cursor:
            cursor.execute(statement, args)
            return cursor.fetchall() if cursor.description else []
    finally:
        connection.close()


def alembic_config() -> Config:
    return Config(str(ALEMBIC_INI))


def app_for(dbname: str, **env: str) -> Flask:
    return create_app(load_settings({**os.environ, "DATABASE_URL": database_url(dbname), **env}))


@pytest.fixture(scope="session", autouse=True)
def test_database() -> Iterator[str]:
    """The suite's main database, migrated to head; DATABASE_URL points at it."""
    recreate_database(TEST_DB)
    os.environ["DATABASE_URL"] = database_url(TEST_DB)
    command.upgrade(alembic_config(), "head")
    yield TEST_DB


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty database for one test; DATABASE_URL points at it while the test runs."""
    suffix = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40]
    name = recreate_database(f"{TEST_DB}_{suffix}")
    monkeypatch.setenv("DATABASE_URL", database_url(name))
    return name


@pytest.fixture(scope="session")
def app(test_database: str) -> Flask:
    return app_for(test_database)


@pytest.fixture
def client(app: Flask) -> Iterator[FlaskClient]:
    yield app.test_client()
    with app.app_context():
        db.session.remove()
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    if tables:  # every model's table, emptied for the next test
        query(TEST_DB, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


def copy_of_the_app(folder: Path) -> Path:
    """The app, its migrations and their tools, in `folder`, to add test revisions to."""
    for name in ("web", "migrations", "scripts"):
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("alembic.ini", ".squawk.toml"):
        shutil.copy(ROOT / name, folder)
    return folder


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    """A copy of the app; its revisions are in app_copy / "migrations" / "versions"."""
    return copy_of_the_app(tmp_path / "app")


def run_in(app: Path, *command: str, database: str, **env: str) -> subprocess.CompletedProcess:
    """`command` (alembic, python, ...) run in the copy `app`, on database `database`."""
    return subprocess.run(
        command,
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "DATABASE_URL": database_url(database), "PYTHONPATH": str(app), **env},
    )
