"""/healthz and /readyz against real databases: at head, behind, ahead, unreachable, and
on an empty migration history. Revisions of their own, in a copy of the app."""

import json
import sys
from pathlib import Path

from tests.fixtures import app_for, query, run_in
from tests.support import write_revision
from web.container.schema_version import code_revisions

HEAD = (code_revisions()[1] or (None,))[0]
READYZ = (
    "import json; from web.app import create_app; "
    "response = create_app().test_client().get('/readyz'); "
    "print(json.dumps([response.status_code, response.json]))"
)


def readyz(app: Path, database: str) -> tuple[int, dict]:
    """GET /readyz of the app copy `app`, on `database`."""
    result = run_in(app, sys.executable, "-c", READYZ, database=database)
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout)
    return status, body


def upgrade(app: Path, database: str) -> None:
    result = run_in(app, "alembic", "upgrade", "head", database=database)
    assert result.returncode == 0, result.stderr


def test_healthz_needs_no_database() -> None:
    app = app_for("db_that_does_not_exist")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_ready_at_head(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {"status": "ready", "revision": HEAD or "none"}


def test_ready_on_an_empty_history(fresh_database: str, app_copy: Path) -> None:
    for revision in (app_copy / "migrations" / "versions").glob("*.py"):
        revision.unlink()
    assert readyz(app_copy, fresh_database) == (200, {"status": "ready", "revision": "none"})


def test_not_ready_behind_head_then_ready_after_upgrade(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(app_copy / "migrations" / "versions", "t_behind", HEAD)
    status, body = readyz(app_copy, fresh_database)
    assert status == 503
    assert body["reason"] == "database is at revision none, the code expects t_behind"
    upgrade(app_copy, fresh_database)
    assert readyz(app_copy, fresh_database) == (200, {"status": "ready", "revision": "t_behind"})


def test_still_ready_when_database_is_ahead(fresh_database: str, app_copy: Path) -> None:
    """A newer release migrated while this one still serves (a rolling deploy): stay ready."""
    write_revision(app_copy / "migrations" / "versions", "t_ahead", HEAD)
    upgrade(app_copy, fresh_database)
    query(fresh_database, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    assert readyz(app_copy, fresh_database) == (
        200,
        {
            "status": "ready",
            "revision": "f00dfeed",
            "note": "database is at revision f00dfeed, ahead of this code's t_ahead",
        },
    )


def test_not_ready_when_database_is_unreachable() -> None:
    app = app_for("app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"].startswith("database unreachable")


def test_the_container_healthcheck_follows_readyz(monkeypatch) -> None:
    """web.container.healthcheck against a real HTTP server: 0 on 200, 1 on 503 or nothing."""
    import http.server
    import threading

    from web.container import healthcheck

    status = 200

    class Readyz(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.path == "/readyz"
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Readyz)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("PORT", str(server.server_address[1]))
    try:
        assert healthcheck.main() == 0
        status = 503
        assert healthcheck.main() == 1
    finally:
        server.shutdown()
        server.server_close()
    assert healthcheck.main() == 1  # nothing listens any more
