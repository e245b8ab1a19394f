"""Bad input through the real gunicorn: always a 4xx JSON error, never a 500 or a trace.

Every operation comes from the running /openapi.json, so these cover whatever
resources the app has: the probe always, the sample while it is there, yours
once you add them. Then schemathesis, driven by the same document, fuzzes
every operation with every check."""

import os
import re
from typing import NamedTuple

import pytest
import requests

from harness.compose import BASE, Stack, create_item

PROBE_PATHS = "/api/probe/"
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
ODD_IDS = ["-1", "0", "2147483648", "99999999999999999999999", "abc", "1.5", "%00"]
BAD_QUERIES = ["limit=-5", "limit=100000", "after=abc", "after=-1", "limit=%00"]


class Operation(NamedTuple):
    method: str
    path: str  # as documented: /api/probe/items/{item_id}
    spec: dict

    def url(self, path_value: object) -> str:
        """The operation's URL with every path parameter set to `path_value`."""
        return BASE + re.sub(r"\{[^}]*\}", str(path_value), self.path)

    def query_parameters(self) -> set[str]:
        return {p["name"] for p in self.spec.get("parameters", []) if p["in"] == "query"}


class Api(NamedTuple):
    document: dict
    operations: list[Operation]
    item_id: int  # an existing probe item

    def url(self, operation: Operation) -> str:
        """A URL for `operation`: on the probe's paths, the existing item, so that a body
        reaches validation; elsewhere any integer (a 404 is a fine answer too)."""
        return operation.url(self.item_id if operation.path.startswith(PROBE_PATHS) else 1)

    def requires_fields(self, operation: Operation) -> bool:
        """Whether the operation's JSON body has required fields (else `{}` is valid)."""
        schema = operation.spec["requestBody"]["content"]["application/json"]["schema"]
        if "$ref" in schema:
            schema = self.document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        return bool(schema.get("required"))


@pytest.fixture(scope="module")
def api(stack: Stack) -> Api:
    stack.up()
    item = create_item("target of bad input")
    document = requests.get(f"{BASE}/openapi.json", timeout=10).json()
    operations = [
        Operation(method.upper(), path, spec)
        for path, methods in document["paths"].items()
        for method, spec in methods.items()
    ]
    # The probe is always there: an empty list would make every test below pass vacuously.
    assert ("POST", "/api/probe/items") in {(op.method, op.path) for op in operations}
    return Api(document, operations, item["id"])


def json_4xx_problem(response: requests.Response) -> str | None:
    """What is wrong with `response` as the answer to bad input; None if nothing."""
    where = f"{response.request.method} {response.request.path_url}"
    if not 400 <= response.status_code < 500:
        return f"{where}: {response.status_code} {response.text[:200]}"
    if response.headers.get("Content-Type") != "application/json":
        return f"{where}: Content-Type {response.headers.get('Content-Type')}"
    body = response.json()
    if not (isinstance(body, dict) and set(body) >= {"error", "message"}):
        return f"{where}: body {response.text[:200]}"
    if "Traceback" in response.text:
        return f"{where}: a trace in the body"
    return None


@pytest.mark.parametrize("case", BODIES)
def test_every_operation_with_a_body_rejects_bad_bodies(api: Api, case: str) -> None:
    body, content_type = BODIES[case]
    problems = []
    for operation in api.operations:
        if "requestBody" not in operation.spec:
            continue
        if case == "missing-fields" and not api.requires_fields(operation):
            continue  # `{}` is valid there: a PATCH that changes nothing
        response = requests.request(
            operation.method,
            api.url(operation),
            data=body,
            headers={"Content-Type": content_type},
            timeout=10,
        )
        problems.append(json_4xx_problem(response))
    assert [problem for problem in problems if problem] == []


def test_a_lone_surrogate_is_an_invalid_field_that_is_named(api: Api) -> None:
    """Valid JSON syntax, but not Unicode text: a 422 on the field, not a 400 or a 500."""
    response = requests.post(
        f"{BASE}/api/probe/items",
        data=b'{"name": "\\udc00"}',
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 422, response.text
    assert [detail["field"] for detail in response.json()["details"]] == ["name"]


@pytest.mark.parametrize("odd_id", ODD_IDS)
def test_odd_ids_are_json_4xx_and_reads_404(api: Api, odd_id: str) -> None:
    problems = []
    for operation in api.operations:
        if "{" not in operation.path:
            continue
        has_body = "requestBody" in operation.spec
        response = requests.request(
            operation.method, operation.url(odd_id), json={} if has_body else None, timeout=10
        )
        problems.append(json_4xx_problem(response))
        if not has_body and response.status_code != 404:  # with a body, a 422 may come first
            problems.append(f"{operation.method} {operation.path}: {response.status_code}")
    assert [problem for problem in problems if problem] == []


@pytest.mark.parametrize("query", BAD_QUERIES)
def test_bad_query_parameters(api: Api, query: str) -> None:
    name = query.partition("=")[0]
    problems = [
        json_4xx_problem(requests.get(f"{api.url(operation)}?{query}", timeout=10))
        for operation in api.operations
        if operation.method == "GET" and name in operation.query_parameters()
    ]
    assert problems, f"no operation takes {name}"
    assert [problem for problem in problems if problem] == []


def test_schemathesis_finds_no_server_error_and_no_schema_violation(stack: Stack, api: Api) -> None:
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
    assert f"Tested: {len(api.operations)}" in result.stdout
