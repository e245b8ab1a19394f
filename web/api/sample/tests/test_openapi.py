"""The sample's part of /openapi.json: request schemas from the validating models."""

from flask.testing import FlaskClient


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
    assert post["summary"] == "Create a project"


def test_path_parameters_come_from_the_routes(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    [parameter] = document["paths"]["/api/projects/{project_id}"]["get"]["parameters"]
    assert parameter["in"] == "path"
    assert parameter["schema"]["type"] == "integer"


def test_an_update_field_may_be_left_out_but_is_never_null(client: FlaskClient) -> None:
    update = client.get("/openapi.json").json["components"]["schemas"]["ProjectUpdate"]
    assert "required" not in update
    assert update["properties"]["name"]["type"] == "string"
    assert "default" not in update["properties"]["name"]
