"""Liveness and readiness, for orchestrators and load balancers.

/healthz: the process answers (restart it if not).
/readyz:  the database answers at the code's Alembic head or ahead of it: send traffic.

Ahead is ready because rolling deploys and rollbacks need it: the first new replica
migrates while the old ones serve, and an image rolled back starts on the newer schema
without migrating (expand/contract: docs/schema-changes.md). Ahead means recorded as
descending from this code's head (web/base/revisions.py: standing); another branch's
revision is not ready, nor is behind or empty (tables may be missing).

Post-deploy revisions (alembic_version_post) do not count: they run after the rollout. The
answer says how many of this code's are still to apply (post_deploy_pending).

The body is one JSON object: `status`, then what explains it (`revision`, `schema`,
`note` or `reason`, `post_deploy_pending`); add keys to it, clients read the ones they know.
"""

from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from web.app.db import db
from web.app.reads import retry_if_disconnected
from web.base.paths import POST_DEPLOY_DIR
from web.base.revisions import (
    AHEAD,
    AT_HEAD,
    ELSEWHERE,
    POST_VERSION_TABLE,
    code_graph,
    code_revisions,
    database_revisions,
    pending,
    standing,
)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@retry_if_disconnected
def schema() -> tuple[tuple[str, ...], str, int]:
    """The database's deploy-time revisions, where they stand against the code's, and how
    many of the code's post-deploy revisions it lacks."""
    with db.engines["reads"].connect() as connection:

        def query(sql: str) -> list[tuple]:
            return connection.exec_driver_sql(sql).fetchall()

        post = database_revisions(query, POST_VERSION_TABLE)
        return *standing(query), len(pending(code_graph(POST_DEPLOY_DIR), post))


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    heads = ", ".join(code_revisions()[1])
    try:
        current, state, post_pending = schema()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        # Named, since requests may reach PostgreSQL through PgBouncer: which one is away?
        where = current_app.config["SETTINGS"].database
        reason = f"database unreachable ({where.host}:{where.port}): {str(cause).splitlines()[0]}"
        return jsonify(status="unavailable", reason=reason), 503
    revision = ", ".join(current) or "none"
    body: dict[str, Any] = {"status": "ready", "revision": revision}
    if state == AHEAD:
        body["schema"] = "ahead"
        body["note"] = f"database is at revision {revision}, ahead of this code's {heads}"
    elif state != AT_HEAD:
        body = {"status": "unavailable"}
        if state == ELSEWHERE:
            body["reason"] = (
                f"database is at revision {revision}, which this code does not know and "
                f"which is not recorded as descending from its {heads}"
            )
        else:
            body["reason"] = f"database is at revision {revision}, the code expects {heads}"
    body["post_deploy_pending"] = post_pending
    return jsonify(body), 200 if body["status"] == "ready" else 503
