"""The stack as a host on the internet runs it: Caddy in front (compose.proxy.yml), two web
replicas, Prometheus (profile `monitoring`), every log line JSON.

One stack for the whole module (the suite's own, with the proxy overlay on top): HTTPS on
localhost with Caddy's local CA, the redirect from http, the client's address as the app
sees it, /metrics out of the proxy's reach, Prometheus's series from every replica, and the
web containers' logs (start-up, migrations, gunicorn, requests) parsed line by line.
Ports are 127.0.0.1 only (E2E_HTTP_PORT, E2E_HTTPS_PORT, E2E_PROMETHEUS_PORT).
"""

import json
import os
from collections.abc import Iterator

import pytest
import requests

from harness.compose import ROOT, Stack
from harness.proxy import HTTP_PORT, HTTPS, HTTPS_PORT, caddy_ca
from harness.waiting import wait_until

PROMETHEUS_PORT = int(os.environ.get("E2E_PROMETHEUS_PORT", "19090"))
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"
REPLICAS = 2


@pytest.fixture(scope="module")
def proxied(stack: Stack) -> Iterator[Stack]:
    """The suite's stack behind Caddy, with Prometheus; the plain stack again afterwards."""
    proxied = stack.with_overlay(ROOT / "compose.proxy.yml")
    proxied.env = {
        **stack.env,
        "COMPOSE_PROFILES": "monitoring",
        "PROXY_HOST_IP": "127.0.0.1",
        "HTTP_PORT": str(HTTP_PORT),
        "HTTPS_PORT": str(HTTPS_PORT),
        "PROMETHEUS_HOST_PORT": str(PROMETHEUS_PORT),
    }
    # One revision down first, so that the new web containers' start-up runs a migration
    # and its Alembic lines are among the logs checked below.
    proxied.compose("run", "--rm", "--no-deps", "web", "alembic", "downgrade", "-1")
    proxied.up("--scale", f"web={REPLICAS}")
    try:
        yield proxied
    finally:
        proxied.compose("rm", "--force", "--stop", "proxy", "prometheus", check=False)
        stack.up("--scale", "web=1")  # back to the plain stack for the modules after this one


@pytest.fixture(scope="module")
def ca(proxied: Stack) -> str:
    return caddy_ca(proxied)


def logs(stack: Stack, service: str) -> list[str]:
    out = stack.compose("logs", "--no-color", "--no-log-prefix", service).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_https_serves_readyz_and_the_api(ca: str) -> None:
    ready = wait_until(
        lambda: requests.get(f"{HTTPS}/readyz", verify=ca, timeout=5),
        "/readyz over HTTPS",
        timeout=30,
    )
    assert ready.status_code == 200, ready.text
    assert "Strict-Transport-Security" not in ready.headers  # not for localhost
    created = requests.post(f"{HTTPS}/api/probe/items", json={"name": "tls"}, verify=ca, timeout=10)
    assert created.status_code == 201, created.text
    fetched = requests.get(f"{HTTPS}{created.headers['Location']}", verify=ca, timeout=10)
    assert fetched.json()["name"] == "tls"
    spec = requests.get(
        f"{HTTPS}/openapi.json", headers={"Accept-Encoding": "gzip"}, verify=ca, timeout=10
    )
    assert spec.headers["Content-Encoding"] == "gzip"


def test_http_answers_a_redirect_to_https() -> None:
    response = requests.get(
        f"http://localhost:{HTTP_PORT}/readyz", allow_redirects=False, timeout=5
    )
    assert response.status_code in (301, 308)
    assert response.headers["Location"].startswith("https://localhost")


def test_a_body_over_the_limit_is_refused(ca: str) -> None:
    body = json.dumps({"name": "x" * 70_000})  # over MAX_CONTENT_LENGTH's 64 KiB
    response = requests.post(
        f"{HTTPS}/api/probe/items",
        data=body,
        headers={"Content-Type": "application/json"},
        verify=ca,
        timeout=10,
    )
    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/json"
    assert response.json()["error"] == "request_entity_too_large"  # the app's shape


def test_a_client_cannot_choose_its_address(proxied: Stack, ca: str) -> None:
    response = requests.get(
        f"{HTTPS}/readyz",
        headers={"X-Forwarded-For": "6.6.6.6", "X-Request-ID": "e2e-spoof-1"},
        verify=ca,
        timeout=5,
    )
    assert response.headers["X-Request-ID"] == "e2e-spoof-1"
    (line,) = [json.loads(line) for line in logs(proxied, "web") if '"e2e-spoof-1"' in line]
    proxy_ip = next(iter(proxied.container("proxy")["NetworkSettings"]["Networks"].values()))[
        "IPAddress"
    ]
    # Neither what the client claimed nor the proxy's own address: the client as Caddy saw it.
    assert line["client"] not in ("6.6.6.6", proxy_ip), line
    assert line["route"] == "/readyz" and line["status"] == 200


def test_metrics_are_not_routed_by_the_proxy(proxied: Stack, ca: str) -> None:
    response = requests.get(f"{HTTPS}/metrics", verify=ca, timeout=5)
    assert response.status_code == 404
    assert "http_requests_total" not in response.text
    inside = proxied.compose(
        "exec", "-T", "--index", "1", "web", "python", "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9000/metrics').read().decode())",
    ).stdout  # fmt: skip
    assert "http_requests_total" in inside


def prometheus(query: str) -> list[dict]:
    response = requests.get(f"{PROMETHEUS}/api/v1/query", params={"query": query}, timeout=5)
    return response.json()["data"]["result"]


def test_prometheus_scrapes_every_replica(proxied: Stack, ca: str) -> None:
    for _ in range(20):
        requests.get(f"{HTTPS}/api/probe/items", verify=ca, timeout=5)
    # Every replica has series (the healthcheck's /readyz at least): Caddy may send all
    # twenty requests to one of them over one kept-alive connection.
    replicas = 'sum by (instance) (http_requests_total{job="web"})'
    wait_until(
        lambda: len(prometheus(replicas)) == REPLICAS,
        f"the app's series from {REPLICAS} replicas in Prometheus",
        timeout=90,
        interval=2,
    )
    served = 'sum(http_requests_total{job="web", route="/api/probe/items"})'
    wait_until(
        lambda: (series := prometheus(served)) and float(series[0]["value"][1]) >= 20,
        "the twenty requests counted, over the replicas",
        timeout=60,
        interval=2,
    )
    ready = prometheus('web_ready{job="web"}')
    assert [float(s["value"][1]) for s in ready] == [1.0] * REPLICAS


def test_every_line_web_logs_is_json(proxied: Stack) -> None:
    """Start-up, migrations, gunicorn and requests, from every replica."""
    lines = logs(proxied, "web")
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not JSON: {line!r}")
    loggers = {line["logger"] for line in parsed}
    assert {"startup", "gunicorn.error", "web.access"} <= loggers, loggers
    assert any(name.startswith("alembic") for name in loggers), loggers
    caddy = [json.loads(line) for line in logs(proxied, "proxy")]
    assert any(line.get("logger") == "http.log.access.log0" for line in caddy)
