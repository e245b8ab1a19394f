"""How database failures reach the client: which 503, and what the log says."""

import logging
import time
from contextlib import closing

import pytest
from flask import Blueprint
from sqlalchemy import text

from harness.appcopy import app_for
from harness.database import admin_connection, as_owner, suite_db
from web.app.db import db

pytestmark = pytest.mark.usefixtures("test_database")

probe = Blueprint("probe", __name__)


@probe.get("/probe/slow")
def slow() -> str:
    db.session.execute(text("SELECT pg_sleep(5)"))
    return "done"


@probe.get("/probe/locked")
def locked() -> str:
    db.session.execute(text("SET LOCAL lock_timeout = '200ms'"))
    db.session.execute(text("LOCK TABLE error_probe"))
    return "done"


def client_for(database: str, **env: str):
    app = app_for(database, **env)
    app.register_blueprint(probe)
    return app.test_client()


def test_a_statement_timeout_says_so(fresh_database: str, caplog: pytest.LogCaptureFixture) -> None:
    client = client_for(fresh_database, DB_STATEMENT_TIMEOUT_MS="200")
    with caplog.at_level(logging.WARNING):
        response = client.get("/probe/slow")
    assert response.status_code == 503
    assert response.json["error"] == "statement_timeout"
    assert "statement timeout" in response.json["message"]
    assert "statement_timeout: canceling statement due to statement timeout" in caplog.text
    assert "unavailable" not in caplog.text


def test_a_lock_timeout_says_so(fresh_database: str, caplog: pytest.LogCaptureFixture) -> None:
    as_owner(fresh_database, "CREATE TABLE error_probe (id int)")
    client = client_for(fresh_database)
    with closing(admin_connection(fresh_database)) as holder, holder.cursor() as cursor:
        holder.autocommit = False
        cursor.execute("LOCK TABLE error_probe")
        with caplog.at_level(logging.WARNING):
            response = client.get("/probe/locked")
        holder.rollback()
    assert response.status_code == 503
    assert response.json["error"] == "lock_timeout"
    assert "lock_timeout: canceling statement due to lock timeout" in caplog.text
    assert "unavailable" not in caplog.text


def test_an_unreachable_database_says_so() -> None:
    client = client_for(
        "app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1"
    )
    response = client.get("/probe/slow")
    assert response.status_code == 503
    assert response.json["error"] == "database_unavailable"


def test_a_request_that_finds_no_free_connection_waits_then_says_so() -> None:
    client = client_for(suite_db(), DB_POOL_SIZE="1", DB_POOL_TIMEOUT="1")
    app = client.application
    # The worker's one write connection is taken (by another thread, as it were).
    with app.app_context(), db.engine.connect():
        started = time.monotonic()
        response = client.get("/probe/slow")
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.json["error"] == "database_busy"
    assert "DB_POOL_TIMEOUT" in response.json["message"]
    assert 1 <= waited < 3, waited
