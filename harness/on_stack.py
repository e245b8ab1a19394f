"""What the swarm tests and make bench run from a container on the stack's network (the tools
image, `python -m harness.on_stack ...`), where the replicas answer at tasks.web:

    traffic BASE TAG   steady reads and writes of the probe resource until stdin closes (at
                       most 900 s); prints a JSON summary: reads, writes, failures
    ready              exit 0 when six /readyz in a row answer 200
    create NAME...     a probe item per name
"""

import itertools
import json
import sys
from collections.abc import Callable

import requests

from web.ops.traffic import Request, Traffic

REPLICAS = "http://tasks.web:8000"
READ, WRITE = "GET /api/probe/items/1", "POST /api/probe/items"
EXPECTED = {READ: 200, WRITE: 201}


def sender(base: str, name: str, body: Callable[[], dict] | None) -> Callable[[], int]:
    method, path = name.split(" ", 1)
    session = requests.Session()  # one per sender: a session is not shared between threads
    return lambda: (
        session.request(method, base + path, json=body() if body else None, timeout=10).status_code
    )


def answered(request: Request) -> bool:
    return request.error is None and request.outcome == EXPECTED[request.sender]


def summary(sent: list[Request]) -> dict:
    """Answered as expected, by kind; the rest, each as `METHOD PATH: status or error`."""
    return {
        "reads": sum(r.sender == READ and answered(r) for r in sent),
        "writes": sum(r.sender == WRITE and answered(r) for r in sent),
        "failures": [f"{r.sender}: {r.error or r.outcome}" for r in sent if not answered(r)],
    }


def traffic(base: str, tag: str) -> dict:
    numbers = itertools.count(1)
    senders = {
        READ: sender(base, READ, None),
        WRITE: sender(base, WRITE, lambda: {"name": f"{tag}-{next(numbers)}"}),
    }
    run = Traffic(senders, rate=20, limit=900, describe=lambda exc: type(exc).__name__).start()
    try:
        sys.stdin.read()  # until the caller closes it
    finally:
        sent = run.stop()
    return summary(sent)


def all_ready() -> bool:
    try:
        return all(
            requests.get(f"{REPLICAS}/readyz", timeout=3).status_code == 200 for _ in range(6)
        )
    except requests.RequestException:
        return False


def create(names: list[str]) -> None:
    for name in names:
        response = requests.post(f"{REPLICAS}/api/probe/items", json={"name": name}, timeout=10)
        if response.status_code != 201:
            raise SystemExit(
                f"POST /api/probe/items {name!r}: {response.status_code} {response.text}"
            )


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "traffic":
        print(json.dumps(traffic(argv[1], argv[2])))
        return 0
    if argv == ["ready"]:
        return 0 if all_ready() else 1
    if len(argv) > 1 and argv[0] == "create":
        create(argv[1:])
        return 0
    print(
        "usage: python -m harness.on_stack traffic BASE TAG | ready | create NAME...",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
