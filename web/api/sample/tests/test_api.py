"""The JSON API against a real PostgreSQL: every operation and every error path."""

import pytest
from flask.testing import FlaskClient
from sqlalchemy import event
from sqlalchemy.orm import Session

from harness.appcopy import app_for
from harness.database import query, suite_db
from web.api.sample.models import NAME_MAX, TITLE_MAX


def create_project(client: FlaskClient, name: str = "alpha", **fields: object) -> dict:
    response = client.post("/api/projects", json={"name": name, **fields})
    assert response.status_code == 201, response.json
    return response.json


def create_task(
    client: FlaskClient, project_id: int, title: str = "write tests", **fields: object
) -> dict:
    response = client.post(f"/api/projects/{project_id}/tasks", json={"title": title, **fields})
    assert response.status_code == 201, response.json
    return response.json


def assert_error(response, status: int, error: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    assert response.json["error"] == error
    assert "Traceback" not in response.get_data(as_text=True)


# --- happy paths ------------------------------------------------------------


def test_create_fetch_update_delete_project(client: FlaskClient) -> None:
    created = client.post("/api/projects", json={"name": "alpha"})
    assert created.status_code == 201
    project = created.json
    assert created.headers["Location"] == f"/api/projects/{project['id']}"
    # Server-side defaults come back in the response.
    assert project["description"] == ""
    assert project["created_at"]

    assert client.get(f"/api/projects/{project['id']}").json == project

    changed = client.patch(f"/api/projects/{project['id']}", json={"description": "the first"})
    assert changed.status_code == 200
    assert changed.json == {**project, "description": "the first"}
    assert client.get(f"/api/projects/{project['id']}").json["description"] == "the first"

    assert client.delete(f"/api/projects/{project['id']}").status_code == 204
    assert_error(client.get(f"/api/projects/{project['id']}"), 404, "not_found")


def test_tasks_belong_to_a_project_and_go_with_it(client: FlaskClient) -> None:
    project = create_project(client)
    task = create_task(client, project["id"], priority=3)
    assert task == {**task, "project_id": project["id"], "done": False, "priority": 3}

    done = client.patch(f"/api/tasks/{task['id']}", json={"done": True})
    assert done.json["done"] is True
    assert client.get(f"/api/tasks/{task['id']}").json["done"] is True

    client.delete(f"/api/projects/{project['id']}")
    assert_error(client.get(f"/api/tasks/{task['id']}"), 404, "not_found")


def test_integral_numbers_are_integers(client: FlaskClient) -> None:
    # JSON Schema counts 2.0 as an integer; so does the API. 1.5 is refused (below).
    task = create_task(client, create_project(client)["id"], priority=2.0)
    assert task["priority"] == 2


def test_delete_task(client: FlaskClient) -> None:
    task = create_task(client, create_project(client)["id"])
    assert client.delete(f"/api/tasks/{task['id']}").status_code == 204
    assert_error(client.delete(f"/api/tasks/{task['id']}"), 404, "not_found")


def test_list_pages_through_everything_once(client: FlaskClient) -> None:
    names = [f"project {i:02}" for i in range(25)]
    for name in names:
        create_project(client, name)
    seen, after, pages = [], 0, 0
    while after is not None and pages < 10:
        page = client.get(f"/api/projects?limit=10&after={after}").json
        seen += [item["name"] for item in page["items"]]
        after, pages = page["next_after"], pages + 1
    assert seen == names
    assert pages == 3


def test_list_tasks_of_one_project(client: FlaskClient) -> None:
    first, second = create_project(client, "first"), create_project(client, "second")
    create_task(client, first["id"], "a")
    create_task(client, second["id"], "b")
    page = client.get(f"/api/projects/{first['id']}/tasks").json
    assert [task["title"] for task in page["items"]] == ["a"]
    assert page["next_after"] is None


def test_default_page_size_is_20(client: FlaskClient) -> None:
    for i in range(21):
        create_project(client, f"p{i}")
    page = client.get("/api/projects").json
    assert len(page["items"]) == 20
    assert page["next_after"] == page["items"][-1]["id"]


# --- conflicts and missing records -------------------------------------------


def test_duplicate_project_name_is_409(client: FlaskClient) -> None:
    create_project(client, "alpha")
    assert_error(client.post("/api/projects", json={"name": "alpha"}), 409, "conflict")
    other = create_project(client, "beta")
    assert_error(
        client.patch(f"/api/projects/{other['id']}", json={"name": "alpha"}), 409, "conflict"
    )
    # The failed writes left the session usable.
    assert client.get("/api/projects").status_code == 200


def test_duplicate_task_title_in_a_project_is_409(client: FlaskClient) -> None:
    project = create_project(client)
    create_task(client, project["id"], "same")
    assert_error(
        client.post(f"/api/projects/{project['id']}/tasks", json={"title": "same"}), 409, "conflict"
    )
    create_task(client, create_project(client, "other")["id"], "same")


@pytest.mark.parametrize(
    "path",
    [
        "/api/projects/12345",
        "/api/projects/12345/tasks",
        "/api/tasks/12345",
        "/api/projects/-1",  # negative ids never match a route
        "/api/projects/99999999999999999999",  # past PostgreSQL's integer
        "/api/projects/abc",
        "/no/such/route",
    ],
)
def test_missing_records_and_routes_are_404(client: FlaskClient, path: str) -> None:
    assert_error(client.get(path), 404, "not_found")


def test_update_of_a_row_deleted_meanwhile_is_404(client: FlaskClient) -> None:
    """Found by schemathesis: a PATCH racing a DELETE answered 500 (StaleDataError)."""
    task = create_task(client, create_project(client)["id"])

    def delete_meanwhile(*_: object) -> None:  # between this request's read and its write
        query(suite_db(), "DELETE FROM tasks WHERE id = %s", task["id"])

    event.listen(Session, "before_flush", delete_meanwhile)
    try:
        response = client.patch(f"/api/tasks/{task['id']}", json={"done": True})
    finally:
        event.remove(Session, "before_flush", delete_meanwhile)
    assert_error(response, 404, "not_found")
    assert client.get("/api/projects").status_code == 200  # the session was rolled back


def test_task_for_missing_project_is_404(client: FlaskClient) -> None:
    assert_error(client.post("/api/projects/777/tasks", json={"title": "x"}), 404, "not_found")


def test_wrong_method_is_405_with_allow(client: FlaskClient) -> None:
    response = client.put("/api/projects")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]


# --- bad input ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b'{"name": "a",}',
        b"not json",
        '{"name": "\xff"}'.encode("latin-1"),
    ],
    ids=["truncated", "trailing-comma", "text", "invalid-utf8"],
)
def test_malformed_json_is_400(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/projects", data=body, content_type="application/json")
    assert_error(response, 400, "malformed_json")


def test_a_lone_surrogate_is_an_invalid_field(client: FlaskClient) -> None:
    """Valid JSON syntax, but no Unicode text: the field that holds it is named."""
    body = b'{"name": "\\ud800"}'
    response = client.post("/api/projects", data=body, content_type="application/json")
    assert_error(response, 422, "invalid")
    assert response.json["details"][0]["field"] == "name"


def test_body_that_is_not_json_is_415(client: FlaskClient) -> None:
    assert_error(client.post("/api/projects", data="name=alpha"), 415, "unsupported_media_type")
    project = create_project(client)
    response = client.patch(f"/api/projects/{project['id']}", data="{}", content_type="text/plain")
    assert_error(response, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"name": ""},
        {"name": None},
        {"name": 5},
        {"name": ["a"]},
        {"name": "x" * (NAME_MAX + 1)},
        {"name": "nul\u0000byte"},
        {"name": "a", "owner": "unknown field"},
        {"name": "a", "description": 1},
        [],
        "alpha",
    ],
)
def test_invalid_project_is_422(client: FlaskClient, body: object) -> None:
    response = client.post("/api/projects", json=body)
    assert_error(response, 422, "invalid")
    assert response.json["details"]


@pytest.mark.parametrize(
    "body",
    [
        {"title": "x" * (TITLE_MAX + 1)},
        {"title": "a", "done": "yes"},
        {"title": "a", "done": 1},
        {"title": "a", "priority": "1"},
        {"title": "a", "priority": 1.5},
        {"title": "a", "priority": 10**6},
        {"title": "a", "priority": -(10**6)},
        {"title": "a", "project_id": 2},
    ],
)
def test_invalid_task_is_422(client: FlaskClient, body: dict) -> None:
    project = create_project(client)
    assert_error(client.post(f"/api/projects/{project['id']}/tasks", json=body), 422, "invalid")


@pytest.mark.parametrize(
    "body", [{"name": None}, {"id": 9}, {"created_at": "2020-01-01T00:00:00Z"}]
)
def test_invalid_update_is_422_and_changes_nothing(client: FlaskClient, body: dict) -> None:
    project = create_project(client)
    assert_error(client.patch(f"/api/projects/{project['id']}", json=body), 422, "invalid")
    assert client.get(f"/api/projects/{project['id']}").json == project


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=101", "limit=x", "after=-1", "after=99999999999"]
)
def test_bad_page_parameters_are_422(client: FlaskClient, query: str) -> None:
    assert_error(client.get(f"/api/projects?{query}"), 422, "invalid")


def test_oversized_body_is_413(client: FlaskClient, app) -> None:
    limit = app.config["MAX_CONTENT_LENGTH"]
    body = '{"name": "' + "x" * limit + '"}'
    assert_error(
        client.post("/api/projects", data=body, content_type="application/json"),
        413,
        "request_entity_too_large",
    )


# --- headers -----------------------------------------------------------------


def test_responses_carry_security_headers(client: FlaskClient) -> None:
    for response in (
        client.get("/healthz"),
        client.get("/nope"),
        client.post("/api/projects", json={}),
    ):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert "default-src 'none'" in response.headers["Content-Security-Policy"]


def test_api_answers_503_when_database_is_unreachable() -> None:
    app = app_for("app", DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_CONNECT_TIMEOUT="1")
    response = app.test_client().get("/api/projects/1")
    assert_error(response, 503, "database_unavailable")
