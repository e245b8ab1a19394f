"""make compat's checks, run in the tools container on the compat project's network
(scripts/compat.sh starts and stops the old code's container):

    python -m web.ops.compat wait URL    until URL answers 200 (at most 120 s; at once when
                                         its host stops resolving: the container is gone)
    python -m web.ops.compat check URL   schemathesis on the OpenAPI document at URL: valid
                                         requests only, no 5xx, answers as documented; its
                                         JUnit report read for the operations that failed
    python -m web.ops.compat errors      the old code's error for each 5xx, from its JSON log
                                         on stdin (the error and the request line share
                                         their request_id)
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

from web.ops.waiting import answers, wait_until

READY_SECONDS = 120
# Test cases per operation in schemathesis's fuzzing phase. One worker: the old code's log
# stays in request order.
SCHEMATHESIS = (
    *("schemathesis", "run", "--mode", "positive"),
    *("--checks", "not_a_server_error,response_schema_conformance"),
    *("--max-examples", "20", "--workers", "1", "--generation-database", "none", "--no-color"),
)
# In a failure's text: "- ST101 Server error" (a check that failed) and "[500] ..." (the answer).
CHECK = re.compile(r"^- (?:[A-Z]+[0-9]+ )?(.+)$")
STATUS = re.compile(r"^\[(\d{3})\]")
MOST_ERRORS = 20


class CompatError(Exception):
    """What went wrong, in one line."""


def say(message: str) -> None:
    print(f"compat: {message}", flush=True)


def serving(url: str) -> bool:
    """True when `url` answers 200; fails once its host no longer resolves."""
    host = urlsplit(url).hostname or ""
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as exc:
        if exc.errno == socket.EAI_NONAME:  # Docker's DNS forgets a container that stopped
            raise CompatError(f"{host} stopped before it answered") from None
        return False
    return answers(url)


def failed_operations(junit: str) -> tuple[int, float, list[str]]:
    """(test cases, seconds, a line per test case that failed: `OP -> STATUS (CHECK)`),
    from schemathesis's JUnit report."""
    root = ET.fromstring(junit)  # noqa: S314 (written by schemathesis, just now)
    lines = []
    cases = root.findall(".//testcase")
    for case in cases:
        failure = case.find("failure")
        if failure is None:
            continue
        text = (failure.text or "").splitlines()
        check = next((m[1] for line in text if (m := CHECK.match(line))), failure.get("message"))
        status = next((m[1] for line in text if (m := STATUS.match(line))), "no answer")
        lines.append(f"  {case.get('name')} -> {status} ({check})")
    return len(cases), float(root.get("time") or 0), lines


def check(url: str) -> int:
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        run = subprocess.run(
            [*SCHEMATHESIS, "--report", "junit", "--report-junit-path", str(report), url],
            capture_output=True,
            text=True,
            check=False,
            timeout=900,
        )
        if not report.exists():
            print(run.stdout + run.stderr, file=sys.stderr)
            raise CompatError(f"schemathesis wrote no report (exit status {run.returncode})")
        cases, seconds, failed = failed_operations(report.read_text(encoding="utf-8"))
    if run.returncode == 0 and not failed:
        say(f"schemathesis: {cases} test cases passed in {seconds:.1f} s")
        return 0
    print(run.stdout + run.stderr, file=sys.stderr)
    print("compat: the operations that failed:", file=sys.stderr)
    print("\n".join(failed) or "  (none named: see schemathesis's output above)", file=sys.stderr)
    return 1


def exception_line(traceback: str) -> str:
    """The exception a traceback ends in: the first unindented line after its last frames."""
    lines = traceback.splitlines()
    last = max((i for i, line in enumerate(lines) if line.startswith("Traceback ")), default=-1)
    return next((line for line in lines[last + 1 :] if line and not line[0].isspace()), "")


def old_errors(log: Iterable[str]) -> list[str]:
    """A line per distinct 5xx answer in a JSON log: `METHOD PATH -> STATUS: exception`."""
    errors: dict[str, str] = {}  # request_id -> the exception logged while serving it
    lines: list[str] = []
    seen: set[tuple] = set()
    for raw in log:
        try:
            record = json.loads(raw)
        except ValueError:
            continue  # not a JSON line (docker's own, a crash's bare text)
        if not isinstance(record, dict):
            continue
        request = record.get("request_id")
        if record.get("exc_info"):
            errors[request] = exception_line(str(record["exc_info"]))
        elif record.get("logger") == "web.access" and int(record.get("status") or 0) >= 500:
            error = errors.pop(request, "") or "(no error logged)"
            key = (record.get("method"), record.get("route"), record.get("status"), error)
            if key not in seen and len(lines) < MOST_ERRORS:
                seen.add(key)
                lines.append(
                    f"  {record.get('method')} {record.get('path')} -> {record['status']}: {error}"
                )
    return lines


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "wait":
            wait_until(lambda: serving(argv[1]), f"{argv[1]} answering 200", READY_SECONDS, 0.25)
            return 0
        if len(argv) == 2 and argv[0] == "check":
            return check(argv[1])
        if argv == ["errors"]:
            print("compat: the old code's errors, from its log:")
            print("\n".join(old_errors(sys.stdin)) or "  (none logged)")
            return 0
    except (CompatError, AssertionError) as exc:
        print(f"compat: error: {exc}", file=sys.stderr)
        return 1
    print("usage: python -m web.ops.compat wait URL | check URL | errors", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
