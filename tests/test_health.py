"""/healthz and /readyz against real databases: at head, behind, ahead, unreachable."""

from alembic import command

from tests.conftest import alembic_config, app_for, query
from web.schema_version import code_revisions


def test_healthz_needs_no_database() -> None:
    app = app_for("db_that_does_not_exist")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_at_head(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "revision": code_revisions()[1][0]}


def test_not_ready_behind_head_then_ready_after_upgrade(fresh_database: str) -> None:
    client = app_for(fresh_database).test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "database is at revision none" in response.json["reason"]

    command.upgrade(alembic_config(), "head")
    assert client.get("/readyz").status_code == 200


def test_still_ready_when_database_is_ahead(fresh_database: str) -> None:
    """A newer release migrated while this one still serves (a rolling deploy): stay ready."""
    command.upgrade(alembic_config(), "head")
    query(fresh_database, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    response = app_for(fresh_database).test_client().get("/readyz")
    assert response.status_code == 200
    head = code_revisions()[1][0]
    assert response.json == {
        "status": "ready",
        "revision": "f00dfeed",
        "note": f"database is at revision f00dfeed, ahead of this code's {head}",
    }


def test_not_ready_when_database_is_unreachable() -> None:
    app = app_for("app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"].startswith("database unreachable")


def test_api_answers_503_when_database_is_unreachable() -> None:
    app = app_for("app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1")
    response = app.test_client().get("/api/projects/1")
    assert response.status_code == 503
    assert response.json["error"] == "database_unavailable"
