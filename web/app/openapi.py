"""Request validation and /openapi.json, from the same pydantic models: spectree.

A view declares what it takes and what it answers, next to its route:

    @bp.post("/notes")
    @spec.validate(resp=Response(HTTP_201=Note, **BODY_ERRORS))
    def create_note(json: NoteCreate) -> tuple[Note, int]:
        \"\"\"Create a note\"\"\"            <- the operation's summary

spectree validates the query (`query: Model`) and the body (`json: Model`), takes path
parameters from the route, and documents every decorated view. Why spectree, measured
against flask-openapi3: README, "How it works", and docs/benchmarks.md.
"""

from typing import Any

from flask import Flask, jsonify, request
from flask.typing import ResponseReturnValue
from spectree import Response, SpecTree
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from web.app.errors import Error, error_response

__all__ = ["BODY_ERRORS", "ERRORS", "Response", "spec"]


def _hand_to_error_handler(req: Any, resp: Any, req_validation_error: Any, *_: Any) -> None:
    """spectree's `before` hook: a request that failed validation becomes the app's 422."""
    if req_validation_error is not None:
        raise req_validation_error


spec = SpecTree(
    "flask",
    title="API",
    version="1.0.0",
    mode="strict",
    page_templates={},  # no documentation UI: only /openapi.json
    annotations=True,  # `json: Model` and `query: Model` in a view's signature
    validation_error_status=422,
    validation_error_model=Error,
    before=_hand_to_error_handler,
    # Schemas named after their models, as in the code ("Note", not "Note.7c2b1e0").
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)

# What any route may answer besides its success (spectree adds 422 to validated routes).
ERRORS: dict[str, type] = {"HTTP_404": Error, "HTTP_503": Error}
# ...and a route that takes a JSON body.
BODY_ERRORS: dict[str, type] = {
    **ERRORS,
    "HTTP_400": Error,
    "HTTP_409": Error,
    "HTTP_413": Error,
    "HTTP_415": Error,
}


def require_a_json_object() -> ResponseReturnValue | None:
    """A body is JSON, parses, and is an object; otherwise 415, 400 or 422. spectree reads
    `request.get_json(silent=True) or {}`: a malformed body would pass as `{}`."""
    if request.method not in ("POST", "PUT", "PATCH") or request.url_rule is None:
        return None
    if not request.is_json:
        raise UnsupportedMediaType("send the body as application/json")
    try:
        body = request.get_json()
    except BadRequest:
        return error_response(400, "malformed_json", "the body is not valid UTF-8 JSON")
    if not isinstance(body, dict):
        problem = [{"field": "", "problem": "Input should be an object"}]
        return error_response(422, "invalid", "the request has invalid fields", details=problem)
    return None


def init_app(app: Flask) -> None:
    app.before_request(require_a_json_object)
    app.add_url_rule("/openapi.json", "openapi", lambda: jsonify(spec.spec))
