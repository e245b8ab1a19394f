"""Request ids, the request log line, metrics by route, pool gauges, forwarded headers,
and JSON lines from the start-up step and Alembic (web/app/access.py, metrics.py,
forwarded.py; web/base/logs.py)."""

import io
import json
import logging
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from prometheus_client import REGISTRY

from harness.appcopy import app_for, run_in
from harness.database import database_url
from harness.revisions import write_revision
from harness.startup import startup
from web.base.logs import JsonFormatter, request_id
from web.base.revisions import code_revisions

pytestmark = pytest.mark.usefixtures("test_database")


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def access_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name == "web.access"]


def test_a_well_formed_request_id_is_kept_and_returned(client: FlaskClient) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": "abc-123.x:y_z"})
    assert response.headers["X-Request-ID"] == "abc-123.x:y_z"


@pytest.mark.parametrize("given", ["", "x" * 65, 'a"b', "a b", "a\tb", "a{b}"])
def test_a_bad_request_id_is_replaced(client: FlaskClient, given: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": given})
    replaced = response.headers["X-Request-ID"]
    assert replaced != given
    assert len(replaced) == 32 and replaced.isalnum()


def test_one_line_per_request_with_route_template_and_request_id(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="web.access")
    client.get("/no/such/path", headers={"X-Request-ID": "req-1"})
    (record,) = access_lines(caplog)
    line = json.loads(JsonFormatter().format(record))
    assert line["level"] == "info"
    assert {k: line[k] for k in ("method", "route", "path", "status")} == {
        "method": "GET",
        "route": "unmatched",
        "path": "/no/such/path",
        "status": 404,
    }
    assert line["duration_ms"] >= 0
    assert line["client"] == "127.0.0.1"
    assert "time" in line and "message" in line


def test_every_line_of_a_request_carries_its_id(
    test_database: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A request's own lines, a 500's traceback included, carry its id."""
    app = app_for(test_database)

    @app.get("/_test/boom")
    def boom():
        raise RuntimeError("boom")

    caplog.set_level(logging.INFO)
    # As in the server: a handler that formats each line as it is logged.
    out = logging.StreamHandler(io.StringIO())
    out.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(out)
    try:
        response = app.test_client().get("/_test/boom", headers={"X-Request-ID": "req-boom"})
    finally:
        logging.getLogger().removeHandler(out)
    assert response.status_code == 500
    lines = [json.loads(line) for line in out.stream.getvalue().splitlines()]
    assert all(line["request_id"] == "req-boom" for line in lines), lines
    error = next(line for line in lines if line["level"] == "error")
    assert error["request_id"] == "req-boom"
    assert "RuntimeError: boom" in error["exc_info"]
    assert access_lines(caplog)[0].status == 500
    assert request_id.get() is None  # reset after the request


def test_requests_counted_by_route_template(client: FlaskClient) -> None:
    labels = {"route": "/healthz", "method": "GET", "status": "200"}
    before = sample("http_requests_total", **labels)
    latency_before = sample("http_request_duration_seconds_count", route="/healthz", method="GET")
    for _ in range(3):
        client.get("/healthz")
    assert sample("http_requests_total", **labels) == before + 3
    assert sample("http_request_duration_seconds_count", route="/healthz", method="GET") == (
        latency_before + 3
    )
    assert sample("http_requests_in_flight") == 0


def test_pool_gauges_return_to_zero(client: FlaskClient) -> None:
    assert client.get("/readyz").status_code == 200  # checks out a "reads" connection
    assert sample("db_pool_connections_in_use", engine="reads") == 0
    assert sample("db_pool_waiters", engine="reads") == 0


def test_pool_gauges_count_a_held_connection(test_database: str) -> None:
    from web.app.db import db

    app = app_for(test_database)
    with app.app_context():
        before = sample("db_pool_connections_in_use", engine="default")
        with db.engine.connect():
            assert sample("db_pool_connections_in_use", engine="default") == before + 1
        assert sample("db_pool_connections_in_use", engine="default") == before


@pytest.mark.parametrize(
    ("peer", "trusted"), [("10.1.2.3", True), ("172.20.0.5", True), ("203.0.113.9", False)]
)
def test_forwarded_headers_only_from_the_proxy(
    test_database: str, peer: str, trusted: bool
) -> None:
    # Behind a proxy, real secrets (the suite's are the development ones, refused there).
    real = {"SECRET_KEY": "k", "DATABASE_PASSWORD": "p", "MIGRATION_DATABASE_PASSWORD": "q"}
    files = {f"{name}_FILE": "" for name in real}
    app = app_for(test_database, FORWARDED_ALLOW_IPS="10.0.0.0/8, 172.16.0.0/12", **real, **files)

    @app.get("/_test/who")
    def who():
        from flask import request

        return {"addr": request.remote_addr, "scheme": request.scheme, "url": request.url_root}

    response = app.test_client().get(
        "/_test/who",
        environ_base={"REMOTE_ADDR": peer},
        headers={
            "X-Forwarded-For": "6.6.6.6, 198.51.100.7",
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "api.example.com",
        },
    )
    if trusted:  # the last hop is the proxy's word; anything before it was the client's
        assert response.json == {
            "addr": "198.51.100.7",
            "scheme": "https",
            "url": "https://api.example.com/",
        }
    else:
        assert response.json["addr"] == peer
        assert response.json["scheme"] == "http"


def test_forwarded_allow_ips_must_be_addresses() -> None:
    from web.base.config import ConfigError, load_settings

    base = {"DATABASE_URL": "postgresql://u@h/d", "SECRET_KEY": "k"}
    with pytest.raises(ConfigError, match="FORWARDED_ALLOW_IPS"):
        load_settings({**base, "FORWARDED_ALLOW_IPS": "proxy"})
    assert load_settings(base).forwarded_allow_ips == ()


def assert_all_json(text: str) -> list[dict]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    assert lines, "no output"
    return lines


def test_startup_and_migrations_log_json(fresh_database: str, app_copy: Path) -> None:
    head = next(iter(code_revisions()[1]), None)
    write_revision(app_copy / "migrations" / "versions", "t_json", head)
    result = run_in(
        app_copy,
        "python",
        "-m",
        "web.container.startup",
        database=fresh_database,
        LOG_FORMAT="json",
    )
    assert result.returncode == 0, result.stderr
    lines = assert_all_json(result.stderr)
    messages = [line["message"] for line in lines]
    assert any(message.startswith("migrating from an empty database to") for message in messages)
    assert any(line["logger"].startswith("alembic") for line in lines), messages


def test_startup_errors_are_json_lines() -> None:
    result = startup(DATABASE_URL=database_url("no_such_database"), LOG_FORMAT="json")
    assert result.returncode == 1
    (line,) = assert_all_json(result.stderr)
    assert line["level"] == "error"
    assert 'database "no_such_database" does not exist' in line["message"]
