"""The stack as a host on the internet runs it: Caddy in front (compose.proxy.yml), two web
replicas, Prometheus (profile `monitoring`), every log line JSON, real secrets.

One stack for the whole module (the suite's own, on a new volume, with the proxy overlay on
top and its secrets in files named by an env file, as docs/security.md says): HTTPS on
localhost with Caddy's local CA, the redirect from http, the client's address as the app
sees it, /metrics and the health answers out of the proxy's reach, slow clients cut off,
every container confined, Prometheus's series from every replica, and the web containers'
logs (start-up, migrations, gunicorn, requests) parsed line by line.
Ports are 127.0.0.1 only (E2E_HTTP_PORT, E2E_HTTPS_PORT, E2E_PROMETHEUS_PORT).
"""

import json
import os
import socket
import ssl
import statistics
import threading
import time
from collections.abc import Iterator

import pytest
import requests

from harness.compose import ROOT, Stack
from harness.proxy import HTTP_PORT, HTTPS, HTTPS_PORT, caddy_ca, real_secrets
from harness.security import capabilities, confinement
from harness.waiting import wait_until

PROMETHEUS_PORT = int(os.environ.get("E2E_PROMETHEUS_PORT", "19090"))
PROMETHEUS = f"http://127.0.0.1:{PROMETHEUS_PORT}"
REPLICAS = 2


@pytest.fixture(scope="module")
def proxied(stack: Stack) -> Iterator[Stack]:
    """The suite's stack behind Caddy, with Prometheus and real secrets, on a new volume (the
    database takes its roles' passwords at its first start); the plain stack again afterwards."""
    proxied = stack.with_overlay(ROOT / "compose.proxy.yml")
    proxied.env = {
        **stack.env,
        **real_secrets(),
        "COMPOSE_PROFILES": "monitoring",
        "PROXY_HOST_IP": "127.0.0.1",
        "HTTP_PORT": str(HTTP_PORT),
        "HTTPS_PORT": str(HTTPS_PORT),
        "PROMETHEUS_HOST_PORT": str(PROMETHEUS_PORT),
    }
    stack.down(volumes=True)
    try:
        proxied.up("--scale", f"web={REPLICAS}")
        yield proxied
    finally:
        proxied.compose("down", "-v", "--remove-orphans", "--timeout", "30", check=False)
        stack.fresh()  # back to the plain stack for the modules after this one


@pytest.fixture(scope="module")
def ca(proxied: Stack) -> str:
    return caddy_ca(proxied)


def logs(stack: Stack, service: str) -> list[str]:
    out = stack.compose("logs", "--no-color", "--no-log-prefix", service).stdout
    return [line for line in out.splitlines() if line.strip()]


def test_https_serves_the_api(ca: str) -> None:
    served = wait_until(
        lambda: requests.get(f"{HTTPS}/openapi.json", verify=ca, timeout=5),
        "the API over HTTPS",
        timeout=30,
    )
    assert served.status_code == 200, served.text
    assert "Strict-Transport-Security" not in served.headers  # not for localhost
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
        f"{HTTPS}/api/probe/items",
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
    assert line["route"] == "/api/probe/items" and line["status"] == 200


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


def test_the_health_answers_stay_inside(proxied: Stack, ca: str) -> None:
    """Through the front door /healthz and /readyz are not found: their answers name the
    database's address and errors. Inside, the healthcheck and Prometheus get them whole."""
    for path in ("/healthz", "/readyz"):
        response = requests.get(f"{HTTPS}{path}", verify=ca, timeout=5)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "not_found", "message": "no such route"}
    inside = proxied.compose(
        "exec", "-T", "--index", "1", "web", "python", "-c",
        "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:8000/readyz').read().decode())",
    ).stdout  # fmt: skip
    assert json.loads(inside)["status"] == "ready"
    assert [float(s["value"][1]) for s in prometheus('web_ready{job="web"}')] == [1.0] * REPLICAS


SLOW_CLIENTS = 50
SLOW_SECONDS = 15  # longer than Caddy's read_body timeout (10 s, deploy/Caddyfile)


def slow_body(ca: str, ended: list[float]) -> None:
    """A POST whose 200-byte body comes one byte a second; notes when Caddy ended it (an
    answer, or the connection closed)."""
    context = ssl.create_default_context(cafile=ca)
    started = time.monotonic()
    try:
        with (
            socket.create_connection(("127.0.0.1", HTTPS_PORT), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(
                b"POST /api/probe/items HTTP/1.1\r\nHost: localhost\r\n"
                b"Content-Type: application/json\r\nContent-Length: 200\r\n\r\n{"
            )
            tls.settimeout(1)
            while time.monotonic() - started < SLOW_SECONDS + 5:
                tls.sendall(b" ")
                try:
                    tls.recv(1024)  # waits a second for Caddy: anything, even b"", ends it
                    break
                except TimeoutError:
                    continue
    except OSError:
        pass  # the connection was reset: Caddy ended it too
    ended.append(time.monotonic() - started)


def test_slow_bodies_do_not_hold_the_app(ca: str) -> None:
    """50 clients send their bodies one byte a second; others are served throughout, within
    1 s (p99), and Caddy cuts the slow ones off after its read_body timeout."""
    ended: list[float] = []
    slow = [threading.Thread(target=slow_body, args=(ca, ended)) for _ in range(SLOW_CLIENTS)]
    for thread in slow:
        thread.start()
    time.sleep(2)  # every slow client is sending by now
    latencies = []
    session = requests.Session()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        sent = time.monotonic()
        response = session.get(f"{HTTPS}/api/probe/items", verify=ca, timeout=10)
        latencies.append(time.monotonic() - sent)
        assert response.status_code == 200, response.text
    for thread in slow:
        thread.join(timeout=SLOW_SECONDS + 30)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"\n{len(latencies)} requests beside {SLOW_CLIENTS} slow bodies: p99 {p99 * 1000:.0f} ms")
    assert len(latencies) > 20
    assert p99 < 1.0, sorted(latencies)[-5:]
    assert len(ended) == SLOW_CLIENTS
    assert max(ended) < SLOW_SECONDS, sorted(ended)


def test_every_container_is_confined(proxied: Stack) -> None:
    """web, PgBouncer, Caddy and Prometheus, as compose runs them (docker inspect)."""
    for service in ("web", "pgbouncer", "proxy", "prometheus"):
        for container in proxied.compose("ps", "-q", service).stdout.split():
            seen = confinement(container)
            assert seen.cap_drop == ["ALL"], (service, seen)
            wanted = {"NET_BIND_SERVICE"} if service == "proxy" else set()
            assert capabilities(seen.cap_add) == wanted, (service, seen)
            assert seen.no_new_privileges, (service, seen)
            assert seen.read_only_root and seen.tmp_is_tmpfs, (service, seen)
            assert seen.memory_limit > 0 and seen.pids_limit > 0, (service, seen)
            assert (seen.log_driver, seen.log_max_size) == ("local", "10m"), (service, seen)
            assert "no-new-privileges:true" in seen.security_opt, (service, seen)
