"""/openapi.json describes every API route, from the models that validate requests."""

from flask import Flask
from flask.testing import FlaskClient


def test_document_lists_every_api_route(client: FlaskClient, app: Flask) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"].startswith("3.")
    documented = {
        (path, method.upper()) for path, ops in document["paths"].items() for method in ops
    }
    routes = {
        (rule.rule.replace("<int:", "{").replace(">", "}"), method)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("api.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert documented == routes


def test_request_schemas_come_from_the_validating_models(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    create = document["components"]["schemas"]["ProjectCreate"]
    assert create["additionalProperties"] is False
    assert create["required"] == ["name"]
    assert create["properties"]["name"]["maxLength"] == 100
    post = document["paths"]["/api/projects"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/ProjectCreate"
    )
    assert set(post["responses"]) == {"201", "400", "404", "409", "413", "415", "422", "503"}
