"""make compat's reading of its results (web/ops/compat.py): schemathesis's JUnit report and
the old code's JSON log, as they come (abridged from a real run)."""

import json

from web.ops.compat import exception_line, failed_operations, main, old_errors

JUNIT = """<?xml version="1.0" encoding="utf-8"?>
<testsuites errors="0" failures="2" skipped="0" tests="3" time="3.088583">
  <testsuite name="schemathesis" errors="0" failures="2" skipped="0" tests="3" time="3.088583">
    <testcase name="POST /api/probe/items" time="1.844105">
      <failure type="failure" message="ST101">1. Test Case ID: td4AkX

- ST101 Server error

[500] Internal Server Error:

    `{"error":"internal_error","message":"the server failed; see its logs"}`

Reproduce with:

    curl -X POST -H 'Content-Type: application/json' -d '{"name": "0"}' http://old:8000/api/probe/items</failure>
    </testcase>
    <testcase name="GET /api/probe/items" time="0.049352">
      <failure type="failure" message="ST201">1. Test Case ID: V2LMa8

- Response violates schema

[200] OK:

    `{"items": 3}`</failure>
    </testcase>
    <testcase name="GET /api/probe/items/{item_id}" time="0.090969" />
  </testsuite>
</testsuites>
"""

TRACEBACK = """Traceback (most recent call last):
  File "/venv/lib/python3.13/site-packages/sqlalchemy/engine/default.py", line 1192, in do_execute
    cursor.execute(statement, parameters)
psycopg2.errors.UndefinedColumn: column "name" of relation "probe_items" does not exist
LINE 1: INSERT INTO probe_items (name) VALUES ('0')

The above exception was the direct cause of the following exception:

Traceback (most recent call last):
  File "/venv/lib/python3.13/site-packages/flask/app.py", line 917, in full_dispatch_request
    rv = self.dispatch_request()
sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column "name" of relation "probe_items" does not exist
LINE 1: INSERT INTO probe_items (name) VALUES ('0')
[SQL: INSERT INTO probe_items (name) VALUES (%(name)s)]
(Background on this error at: https://sqlalche.me/e/21/f405)"""
ERROR = (
    'sqlalchemy.exc.ProgrammingError: (psycopg2.errors.UndefinedColumn) column "name" of '
    'relation "probe_items" does not exist'
)


def line(**record: object) -> str:
    return json.dumps({"time": "2026-12-01T22:00:29.492+00:00", **record})


def served(request_id: str, method: str, path: str, status: int, route: str = "") -> str:
    return line(
        level="info",
        logger="web.access",
        message=f"{method} {path} {status}",
        request_id=request_id,
        method=method,
        route=route or path,
        path=path,
        status=status,
    )


def failed(request_id: str) -> str:
    return line(level="error", logger="web.app", request_id=request_id, exc_info=TRACEBACK)


def test_the_failed_operations_come_from_the_junit_report() -> None:
    assert failed_operations(JUNIT) == (
        3,
        3.088583,
        [
            "  POST /api/probe/items -> 500 (Server error)",
            "  GET /api/probe/items -> 200 (Response violates schema)",
        ],
    )


def test_the_exception_is_the_last_one_a_traceback_ends_in() -> None:
    assert exception_line(TRACEBACK) == ERROR
    assert exception_line("KeyError: 'x'") == "KeyError: 'x'"


def test_each_5xx_gets_the_error_logged_with_its_request_id() -> None:
    log = [
        "startup: at head",  # not JSON: passed over
        failed("r1"),
        served("r2", "GET", "/api/probe/items", 200),
        served("r1", "POST", "/api/probe/items", 500),
        failed("r3"),
        served("r3", "POST", "/api/probe/items", 500),  # the same again: once
        served("r4", "GET", "/api/probe/items/1", 503),  # nothing logged for it
    ]
    assert old_errors(log) == [
        f"  POST /api/probe/items -> 500: {ERROR}",
        "  GET /api/probe/items/1 -> 503: (no error logged)",
    ]


def test_at_most_twenty_error_lines() -> None:
    route = "/api/probe/items/<int:item_id>"
    log = [served(f"r{i}", "GET", f"/api/probe/items/{i}", 500, route) for i in range(30)]
    assert len(old_errors(log)) == 1  # one route, one error: said once
    log = [
        line for i in range(30) for line in (failed(f"r{i}"), served(f"r{i}", "GET", f"/x{i}", 500))
    ]
    assert len(old_errors(log)) == 20


def test_bad_usage_is_one_line_and_exit_2(capsys) -> None:
    assert main(["nonsense"]) == 2
    assert capsys.readouterr().err.startswith("usage: python -m web.ops.compat")
