"""Liveness and readiness, for orchestrators and load balancers.

/healthz: the process answers (restart it if not).
/readyz:  the database answers at the code's Alembic head or ahead of it: send traffic.

Ahead is ready because a rolling deploy needs it: the first new replica migrates while the
old ones serve (expand/contract, README). Behind or empty is not: tables may be missing.
A revision this code does not know counts as ahead; start-up refuses it instead.

Post-deploy revisions (alembic_version_post) do not count: they run after the rollout. The
answer says how many of this code's are still to apply (post_deploy_pending).
"""

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from web.app.db import db
from web.app.reads import retry_if_disconnected
from web.base.paths import POST_DEPLOY_DIR
from web.base.revisions import (
    POST_VERSION_TABLE,
    code_graph,
    code_revisions,
    database_revisions,
    pending,
)

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@retry_if_disconnected
def current_revisions() -> tuple[tuple[str, ...], int]:
    """(the database's deploy-time revisions, how many post-deploy ones it lacks)."""
    with db.engines["reads"].connect() as connection:

        def query(sql: str) -> list[tuple]:
            return connection.exec_driver_sql(sql).fetchall()

        post = database_revisions(query, POST_VERSION_TABLE)
        return database_revisions(query), len(pending(code_graph(POST_DEPLOY_DIR), post))


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    known, heads = code_revisions()
    try:
        current, post_pending = current_revisions()
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        # Named, since requests may reach PostgreSQL through PgBouncer: which one is away?
        where = current_app.config["SETTINGS"].database
        reason = f"database unreachable ({where.host}:{where.port}): {str(cause).splitlines()[0]}"
        return jsonify(status="unavailable", reason=reason), 503
    revision = ", ".join(current) or "none"
    facts = {"revision": revision, "post_deploy_pending": post_pending}
    if current == heads:
        return jsonify(status="ready", **facts)
    if current and not set(current) & known:
        note = f"database is at revision {revision}, ahead of this code's {', '.join(heads)}"
        return jsonify(status="ready", note=note, **facts)
    reason = f"database is at revision {revision}, the code expects {', '.join(heads)}"
    return jsonify(status="unavailable", reason=reason, **facts), 503
