"""Every error leaves as JSON: {"error": slug, "message": text, "details": [...]}.

Bad input is a 4xx that says what was wrong; a database that is away, busy or that cut a
statement short is a 503 that says which; anything else is a logged 500 without a traceback.
"""

from typing import Any

from flask import Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from web.app.db import db

UNIQUE_VIOLATION = "23505"
FOREIGN_KEY_VIOLATION = "23503"
# The database answered, but cut the statement short: say so, not "not reachable".
TIMEOUTS = {
    "57014": ("statement_timeout", "the query ran longer than the statement timeout"),
    "55P03": ("lock_timeout", "the query waited too long for a lock held by another"),
}


class Error(BaseModel):
    """The body of every error response (documented in /openapi.json)."""

    error: str
    message: str
    details: list[dict] | None = None


def error_response(status: int, error: str, message: str, **extra: Any) -> ResponseReturnValue:
    return jsonify(error=error, message=message, **extra), status


def http_error(exc: HTTPException) -> ResponseReturnValue:
    slug = (exc.name or "error").lower().replace(" ", "_")
    response = error_response(exc.code or 500, slug, exc.description or slug)
    if exc.code == 405 and exc.valid_methods:
        return (*response, {"Allow": ", ".join(exc.valid_methods)})
    return response


def validation_error(exc: ValidationError) -> ResponseReturnValue:
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    if any(error["type"] == "json_invalid" for error in errors):
        return error_response(400, "malformed_json", "the body is not valid UTF-8 JSON")
    details = [{"field": ".".join(map(str, e["loc"])), "problem": e["msg"]} for e in errors]
    return error_response(422, "invalid", "the request has invalid fields", details=details)


def integrity_error(exc: IntegrityError) -> ResponseReturnValue:
    db.session.rollback()
    code = getattr(exc.orig, "pgcode", None)
    constraint = getattr(getattr(exc.orig, "diag", None), "constraint_name", None)
    if code == UNIQUE_VIOLATION:
        return error_response(409, "conflict", f"already exists ({constraint})")
    if code == FOREIGN_KEY_VIOLATION:
        return error_response(409, "conflict", f"a related record is gone ({constraint})")
    return internal_error(exc)


def row_gone(exc: StaleDataError) -> ResponseReturnValue:
    """A row this request read was deleted by another before this one wrote it."""
    db.session.rollback()
    return error_response(404, "not_found", "the record was deleted by another request")


def pool_exhausted(exc: PoolTimeoutError) -> ResponseReturnValue:
    """Every connection of this worker's pool stayed busy for DB_POOL_TIMEOUT seconds."""
    db.session.rollback()
    current_app.logger.warning("no free database connection: %s", str(exc).splitlines()[0])
    return error_response(
        503, "database_busy", "no database connection came free in time (DB_POOL_TIMEOUT); retry"
    )


def database_error(exc: OperationalError) -> ResponseReturnValue:
    db.session.rollback()
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    timeout = TIMEOUTS.get(getattr(getattr(exc, "orig", None), "pgcode", None) or "")
    if timeout is not None:
        error, message = timeout
        current_app.logger.warning("%s: %s", error, reason)
        return error_response(503, error, f"{message}; retry")
    current_app.logger.warning("database unavailable: %s", reason)
    return error_response(503, "database_unavailable", "the database is not reachable; retry")


def internal_error(exc: Exception) -> ResponseReturnValue:
    current_app.logger.exception("unhandled error")
    return error_response(500, "internal_error", "the server failed; see its logs")


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(ValidationError, validation_error)
    app.register_error_handler(IntegrityError, integrity_error)
    app.register_error_handler(StaleDataError, row_gone)
    app.register_error_handler(OperationalError, database_error)
    app.register_error_handler(PoolTimeoutError, pool_exhausted)
    app.register_error_handler(Exception, internal_error)
