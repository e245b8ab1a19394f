"""/healthz, /readyz without a database, and the container's healthcheck against a real
HTTP server."""

import http.server
import threading

from harness.appcopy import app_for
from web.container import healthcheck


def test_healthz_needs_no_database() -> None:
    app = app_for("db_that_does_not_exist")
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_not_ready_when_database_is_unreachable() -> None:
    app = app_for("app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["reason"].startswith("database unreachable")


def test_the_container_healthcheck_follows_readyz(monkeypatch) -> None:
    """web.container.healthcheck against a real HTTP server: 0 on 200, 1 on 503 or nothing."""
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
