"""/openapi.json documents every API route, from the routes and the models that validate them."""

import json
import re
import sys
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from harness.appcopy import run_in

pytestmark = pytest.mark.usefixtures("test_database")

NOT_API = {
    "static",
    "health.healthz",
    "health.readyz",
    "openapi",
    "index",
    "apidocs.page",
    "apidocs.asset",
}
# A resource of the test's own, added to a copy of the app: a uuid path parameter.
THINGS = '''
import uuid

from flask import Blueprint
from pydantic import BaseModel

from web.app.openapi import ERRORS, Response, spec

bp = Blueprint("things", __name__, url_prefix="/api")


class Thing(BaseModel):
    id: uuid.UUID


@bp.get("/things/<uuid:thing_id>")
@spec.validate(resp=Response(HTTP_200=Thing, **ERRORS))
def get_thing(thing_id: uuid.UUID) -> Thing:
    """Fetch a thing"""
    return Thing(id=thing_id)
'''
DOCUMENT = (
    "import json; from web.app import create_app; "
    "client = create_app().test_client(); "
    "print(json.dumps([client.get('/openapi.json').json, "
    "client.get('/api/things/12345678-1234-5678-1234-567812345678').json]))"
)


def test_document_lists_every_api_route(client: FlaskClient, app: Flask) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint not in NOT_API
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes


def test_a_new_module_in_web_api_is_served_and_documented(
    app_copy: Path, test_database: str
) -> None:
    (app_copy / "web" / "api" / "things.py").write_text(THINGS)
    result = run_in(app_copy, sys.executable, "-c", DOCUMENT, database=test_database)
    assert result.returncode == 0, result.stderr
    document, thing = json.loads(result.stdout)
    assert thing == {"id": "12345678-1234-5678-1234-567812345678"}
    operation = document["paths"]["/api/things/{thing_id}"]["get"]
    assert operation["summary"] == "Fetch a thing"
    [parameter] = operation["parameters"]
    assert parameter["schema"] == {"type": "string", "format": "uuid"}
    assert document["components"]["schemas"]["Thing"]["properties"]["id"]["format"] == "uuid"
