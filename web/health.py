"""Liveness and readiness, for orchestrators and load balancers.

/healthz: the process answers (restart it if not).
/readyz:  the database answers and is at the code's Alembic head (send it
          traffic only then).
"""

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy.exc import SQLAlchemyError

from web.extensions import db
from web.schema_version import code_revisions, database_revisions

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz() -> ResponseReturnValue:
    _, heads = code_revisions()
    try:
        with db.engines["reads"].connect() as connection:
            current = database_revisions(connection.connection.cursor())
    except SQLAlchemyError as exc:
        cause = getattr(exc, "orig", None) or exc
        reason = f"database unreachable: {str(cause).splitlines()[0]}"
        return jsonify(status="unavailable", reason=reason), 503
    if current != heads:
        reason = (
            f"database is at revision {', '.join(current) or 'none'}, "
            f"the code expects {', '.join(heads)}"
        )
        return jsonify(status="unavailable", reason=reason), 503
    return jsonify(status="ready", revision=heads[0] if heads else None)
