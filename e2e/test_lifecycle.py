"""Data survives restarts, recreation and down/up; only `down -v` deletes it."""

import requests

from harness.compose import BASE, Stack, create_item, item_names


def test_records_survive_restart_recreate_and_down_up(stack: Stack) -> None:
    stack.down(volumes=True)
    stack.compose("up", "-d", "--build", "--wait", "--wait-timeout", "180")
    assert requests.get(f"{BASE}/readyz", timeout=5).status_code == 200

    item = create_item("survivor")
    written = ["survivor", *(create_item(f"record {i}")["name"] for i in range(150))]
    assert requests.get(f"{BASE}/api/probe/items/{item['id']}", timeout=5).json() == item

    stack.compose("restart", "web")
    stack.wait_ready()
    assert item_names() == written

    stack.compose("up", "-d", "--wait", "--force-recreate")
    assert item_names() == written

    stack.down()
    stack.up()
    assert requests.get(f"{BASE}/api/probe/items/{item['id']}", timeout=5).json() == item
    assert item_names() == written

    stack.down(volumes=True)
    stack.up()
    assert item_names() == []
