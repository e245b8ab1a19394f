"""Data survives restarts, recreation and down/up; only `down -v` deletes it."""

import requests

from e2e.conftest import BASE, Stack, create_project


def all_names() -> set[str]:
    names, after = set(), 0
    for _ in range(100):
        page = requests.get(f"{BASE}/api/projects?limit=100&after={after}", timeout=10).json()
        names |= {item["name"] for item in page["items"]}
        after = page["next_after"]
        if after is None:
            return names
    raise AssertionError("pagination did not end")


def test_records_survive_restart_recreate_and_down_up(stack: Stack) -> None:
    stack.down(volumes=True)
    stack.compose("up", "-d", "--build", "--wait", "--wait-timeout", "180")
    assert requests.get(f"{BASE}/readyz", timeout=5).status_code == 200

    project = create_project("survivor")
    written = {"survivor"} | {create_project(f"record {i}")["name"] for i in range(50)}
    assert requests.get(f"{BASE}/api/projects/{project['id']}", timeout=5).json() == project

    stack.compose("restart", "web")
    stack.wait_ready()
    assert all_names() == written

    stack.compose("up", "-d", "--wait", "--force-recreate")
    assert all_names() == written

    stack.down()
    stack.up()
    assert requests.get(f"{BASE}/api/projects/{project['id']}", timeout=5).json() == project
    assert all_names() == written

    stack.down(volumes=True)
    stack.up()
    assert all_names() == set()
