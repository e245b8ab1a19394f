"""Bad input through the real gunicorn: always a 4xx JSON error, never a 500 or a trace.
Then schemathesis, driven by /openapi.json, fuzzes every operation."""

import os

import pytest
import requests

from e2e.conftest import BASE, Stack, create_project

LONG = "x" * 5000
BODIES = {
    "malformed-json": (b'{"name": ', "application/json"),
    "invalid-utf8": (b'{"name": "\xff\xfe"}', "application/json"),
    "nul-byte": (b'{"name": "a\\u0000b", "title": "a\\u0000b"}', "application/json"),
    "lone-surrogate": (b'{"name": "\\udc00", "title": "\\udc00"}', "application/json"),
    "wrong-content-type": (b'{"name": "a", "title": "a"}', "text/plain"),
    "form": (b"name=a&title=a", "application/x-www-form-urlencoded"),
    "wrong-types": (b'{"name": 1, "title": [], "done": "no", "priority": "2"}', "application/json"),
    "missing-fields": (b"{}", "application/json"),
    "unknown-fields": (b'{"name": "a", "title": "a", "admin": true}', "application/json"),
    "too-long": (f'{{"name": "{LONG}", "title": "{LONG}"}}'.encode(), "application/json"),
    "not-an-object": (b"[1, 2]", "application/json"),
    "oversized": (b'{"name": "' + b"x" * 200_000 + b'"}', "application/json"),
}


@pytest.fixture(scope="module")
def ids(stack: Stack) -> dict[str, int]:
    stack.up()
    project = create_project("target of bad input")
    task = requests.post(
        f"{BASE}/api/projects/{project['id']}/tasks", json={"title": "t"}, timeout=5
    ).json()
    return {"project": project["id"], "task": task["id"]}


def assert_json_4xx(response: requests.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) >= {"error", "message"}
    assert "Traceback" not in response.text


@pytest.mark.parametrize("case", BODIES)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/projects"),
        ("PATCH", "/api/projects/{project}"),
        ("POST", "/api/projects/{project}/tasks"),
        ("PATCH", "/api/tasks/{task}"),
    ],
)
def test_every_write_endpoint_rejects_bad_bodies(
    ids: dict, method: str, path: str, case: str
) -> None:
    body, content_type = BODIES[case]
    url = BASE + path.format(**ids)
    response = requests.request(
        method, url, data=body, headers={"Content-Type": content_type}, timeout=10
    )
    if method == "PATCH" and case == "missing-fields":
        assert response.status_code == 200  # an empty change is a valid no-op
        return
    assert_json_4xx(response)


@pytest.mark.parametrize(
    "resource_id", ["-1", "0", "2147483648", "99999999999999999999999", "abc", "1.5", "%00"]
)
@pytest.mark.parametrize("path", ["/api/projects/{}", "/api/projects/{}/tasks", "/api/tasks/{}"])
@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
def test_odd_ids_are_404(ids: dict, method: str, path: str, resource_id: str) -> None:
    response = requests.request(method, BASE + path.format(resource_id), json={}, timeout=10)
    assert_json_4xx(response)
    assert response.status_code in (404, 405)


@pytest.mark.parametrize(
    "query", ["limit=-5", "limit=100000", "after=abc", "after=-1", "limit=%00"]
)
def test_bad_page_parameters(ids: dict, query: str) -> None:
    assert_json_4xx(requests.get(f"{BASE}/api/projects?{query}", timeout=10))


def test_schemathesis_finds_no_server_error_and_no_schema_violation(stack: Stack) -> None:
    """Run from the tools container, straight at the web service on the compose network."""
    stack.up()
    result = stack.compose(
        "run",
        "--rm",
        "--no-deps",
        "tools",
        "schemathesis",
        "run",
        "http://web:8000/openapi.json",
        "--checks",
        "all",
        "--workers",
        "2",
        "--max-response-time",
        "5",
        "--max-examples",
        os.environ.get("SCHEMATHESIS_EXAMPLES", "40"),
        check=False,
        timeout=900,
    )
    print(result.stdout[-5000:])
    assert result.returncode == 0, result.stdout[-10000:] + result.stderr[-2000:]
    assert "Tested: 10" in result.stdout
