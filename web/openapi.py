"""/openapi.json, generated from the routes and the pydantic models that validate them."""

import re
from functools import cache
from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue
from pydantic import BaseModel

from web import schemas

bp = Blueprint("openapi", __name__)

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"<int:(\w+)>")
# The errors an operation may answer (web/errors.py), by what it takes.
ANY_ERRORS = {404: "Not found", 503: "Database unavailable"}
QUERY_ERRORS = {422: "Invalid query parameter"}
BODY_ERRORS = {
    400: "Malformed JSON",
    409: "Conflict",
    413: "Body too large",
    415: "Not JSON",
    422: "Invalid fields",
}


@bp.get("/openapi.json")
def openapi_json() -> ResponseReturnValue:
    return jsonify(build_document(current_app._get_current_object()))  # type: ignore[attr-defined]


@cache
def build_document(app: Flask) -> dict[str, Any]:
    components: dict[str, Any] = {}
    paths: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        spec = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if spec is None:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            path = _PARAM.sub(r"{\1}", rule.rule)
            paths.setdefault(path, {})[method.lower()] = _operation(rule.rule, spec, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Projects and tasks", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": components},
    }


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, str]:
    schema = model.model_json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    components[model.__name__] = schema
    return {"$ref": REF.format(model=model.__name__)}


def _json(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": _schema(model, components)}}}


def _operation(rule: str, spec: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    parameters = [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0, "maximum": schemas.MAX_ID},
        }
        for name in _PARAM.findall(rule)
    ]
    if spec["query"] is not None:
        for name, prop in spec["query"].model_json_schema()["properties"].items():
            parameters.append({"name": name, "in": "query", "required": False, "schema": prop})
    success: dict[str, Any] = {"description": spec["summary"]}
    if spec["response"] is not None:
        success.update(_json(spec["response"], components))
    errors = {
        **ANY_ERRORS,
        **(QUERY_ERRORS if spec["query"] else {}),
        **(BODY_ERRORS if spec["body"] else {}),
    }
    operation: dict[str, Any] = {
        "summary": spec["summary"],
        "parameters": parameters,
        "responses": {
            str(spec["status"]): success,
            **{
                str(code): {"description": text, **_json(schemas.Error, components)}
                for code, text in errors.items()
            },
        },
    }
    if spec["body"] is not None:
        operation["requestBody"] = {"required": True, **_json(spec["body"], components)}
    return operation
