"""The API page in a real headless browser (Debian's Chromium through Playwright, in the
image's `browser` stage; harness/browser.py): reached from `/`, it renders every operation
of /openapi.json, "Try it out" on a list endpoint answers 200, and it works under its
Content-Security-Policy with no request leaving the app's origin (no CDN)."""

import json
import os
import subprocess

import requests

from harness.compose import BASE, PROJECT, ROOT, Stack

LIST = "GET /api/probe/items"


def browser_image() -> str:
    """The `browser` stage, built now: from Docker's cache unless uv.lock changed."""
    tag = f"{PROJECT}-browser:latest"
    base = os.environ.get("PYTHON_IMAGE")
    build = ["docker", "build", "-q", "--target", "browser", "-t", tag, str(ROOT)]
    if base:
        build[2:2] = ["--build-arg", f"PYTHON_IMAGE={base}"]
    result = subprocess.run(build, capture_output=True, text=True, timeout=1800, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    return tag


def test_the_api_page_in_a_browser(running: Stack) -> None:
    document = requests.get(f"{BASE}/openapi.json", timeout=10).json()
    operations = sorted(
        f"{method.upper()} {path}" for path, item in document["paths"].items() for method in item
    )
    assert LIST in operations
    run = ["docker", "run", "--rm", "-i", "--network", f"{PROJECT}_default", browser_image()]
    with (ROOT / "harness" / "browser.py").open() as program:
        result = subprocess.run(
            [*run, "python", "-", "http://web:8000/", LIST],
            stdin=program,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    print(json.dumps(seen, indent=1))
    assert seen["landed"] == "http://web:8000/docs"
    assert sorted(seen["operations"]) == operations
    assert seen["tried"] == {"status": 200, "shown": "200"}
    assert seen["left_the_origin"] == []
    assert seen["policy_violations"] == []
