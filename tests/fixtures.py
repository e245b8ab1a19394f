"""The suite's fixtures (a pytest plugin, loaded by the root conftest.py), for tests/ and
for the tests beside each resource (web/api/*/tests/). A test asks for what it needs:
pure tests (tests/unit/) ask for nothing and need no database.
"""

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from flask import Flask
from flask.testing import FlaskClient

from harness.appcopy import alembic_config, app_for, copy_of_the_app
from harness.database import as_owner, database_env, query, recreate_database, server, suite_db
from web.app.db import db
from web.base.roles import grants


@pytest.fixture(scope="session")
def test_database() -> Iterator[str]:
    """The suite's main database, migrated to head; DATABASE_URL (the app's, as the runtime
    role) and MIGRATION_DATABASE_URL (the owner's) point at it."""
    name = recreate_database(suite_db())
    os.environ.update(database_env(name))
    command.upgrade(alembic_config(), "head")
    yield name


@pytest.fixture
def fresh_database(
    test_database: str, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> str:
    """An empty database for one test; the app's and the migrations' URLs point at it while
    the test runs."""
    suffix = re.sub(r"[^a-z0-9_]+", "_", request.node.name.lower())[:40]
    name = recreate_database(f"{test_database}_{suffix}")
    # What the runtime role is granted at the first start: so is what a test makes by hand.
    for statement in grants(name, server().user or ""):
        as_owner(name, statement)
    for variable, value in database_env(name).items():
        monkeypatch.setenv(variable, value)
    return name


@pytest.fixture(scope="session")
def app(test_database: str) -> Flask:
    return app_for(test_database)


@pytest.fixture
def client(app: Flask, test_database: str) -> Iterator[FlaskClient]:
    yield app.test_client()
    with app.app_context():
        db.session.remove()
    tables = ", ".join(f'"{table.name}"' for table in db.metadata.sorted_tables)
    if tables:  # every model's table, emptied for the next test
        query(test_database, f"TRUNCATE {tables} RESTART IDENTITY CASCADE")


@pytest.fixture
def app_copy(tmp_path: Path) -> Path:
    """A copy of the app; its revisions are in app_copy / "migrations" / "versions"."""
    return copy_of_the_app(tmp_path / "app")
