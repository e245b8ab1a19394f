"""Throughput: wrk against each endpoint and each way of serving it, round by round, with the
most PostgreSQL connections seen while it ran."""

import json
import os
import re
import subprocess
import time
import urllib.request
from collections.abc import Callable
from functools import partial

from bench import SHORT
from bench.stack import WEB, compose, log, run_beside, start_server, wrk
from harness.compose import PROJECT
from harness.waiting import wait_until
from harness.wrk import wrk_summary

ROUNDS = 1 if SHORT else 5
WRK_SECONDS = 1 if SHORT else 10
WRK = ("-t2", "-c16", f"-d{WRK_SECONDS}s", "--latency", "--timeout", "5s")
# The same image under `gunicorn web.container.wsgi:app` with gunicorn's defaults.
DEFAULT_SERVER = f"{PROJECT}-default-gunicorn"
# The same image and settings with metrics off and text logs: what instrumentation costs.
PLAIN_SERVER = f"{PROJECT}-plain-gunicorn"
# The same image and settings, with requests straight to PostgreSQL instead of PgBouncer.
DIRECT_SERVER = f"{PROJECT}-direct"
# Caddy with deploy/Caddyfile in front of web, over HTTPS. Its site address ends in
# .localhost, so Caddy serves it with its local CA and never asks Let's Encrypt; wrk does
# not verify. The same name is its DNS alias.
PROXY = f"{PROJECT}-proxy"
PROXY_SITE = f"{PROXY}.localhost"
CADDY_IMAGE = os.environ.get("CADDY_IMAGE") or "caddy:2"
READ = "/api/probe/items/42"
CREATE = ("/api/probe/items", "/bench/post.lua")
TARGETS: dict[str, tuple[str, str | None]] = {
    "healthz": (f"{WEB}/healthz", None),
    "read": (f"{WEB}{READ}", None),
    "read_session": (f"{WEB}{READ}/via-session", None),
    "list": (f"{WEB}/api/probe/items?limit=20", None),
    "create": (f"{WEB}{CREATE[0]}", CREATE[1]),
    "default_read": (f"http://{DEFAULT_SERVER}:8000{READ}", None),
    "plain_read": (f"http://{PLAIN_SERVER}:8000{READ}", None),
    "proxy_read": (f"https://{PROXY_SITE}{READ}", None),
    "direct_read": (f"http://{DIRECT_SERVER}:8000{READ}", None),
    "direct_create": (f"http://{DIRECT_SERVER}:8000{CREATE[0]}", CREATE[1]),
}

# Counts PostgreSQL's client connections every 0.5 s on one psql session (\watch), so
# that sampling costs next to nothing beside the load it watches: those on its socket
# (PgBouncer's) and those over TCP (web straight to PostgreSQL). The sampling session is
# named bench-watch (its application_name), and not counted.
WATCH_CONNECTIONS = (
    "SELECT count(*) FILTER (WHERE client_addr IS NULL), "
    "count(*) FILTER (WHERE client_addr IS NOT NULL) "
    "FROM pg_stat_activity WHERE backend_type = 'client backend' "
    "AND application_name <> 'bench-watch'\n\\watch 0.5\n"
)
END_WATCH = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'bench-watch'"
)


def seed(items: int = 100) -> None:
    """`items` probe items, so that READ finds one."""
    for i in range(items):
        request = urllib.request.Request(  # noqa: S310 (web, on the stack's network)
            f"{WEB}{CREATE[0]}",
            json.dumps({"name": f"seed {i:03}"}).encode(),
            {"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=10).close()  # noqa: S310


def start_servers() -> None:
    """The servers beside web that TARGETS compare it with."""
    # gunicorn's defaults spelled out, so that a WEB_CONCURRENCY in the environment (which
    # gunicorn reads) cannot change them; only the bind address differs, to be reachable.
    start_server(
        DEFAULT_SERVER, "gunicorn", "--workers", "1", "--worker-class", "sync",
        "--bind", "0.0.0.0:8000", "web.container.wsgi:app",
    )  # fmt: skip
    start_server(PLAIN_SERVER, METRICS_PORT="0", LOG_FORMAT="text")
    start_server(DIRECT_SERVER, DATABASE_URL="postgresql://app@db:5432/app")
    run_beside(
        PROXY, "--network-alias", PROXY_SITE, "-e", f"SITE_ADDRESS={PROXY_SITE}", CADDY_IMAGE,
        files={"deploy/Caddyfile": "/etc/caddy/Caddyfile"},
    )  # fmt: skip
    # Ready once wrk completes requests over https (the certificate is made in the background).
    served = re.compile(r"^\s+[1-9]\d* requests in", re.M)
    url = f"https://{PROXY_SITE}/healthz"
    wait_until(lambda: served.search(wrk("-t1", "-c1", "-d1s", url, check=False)), "Caddy", 60, 1)


def load(url: str, script: str | None, tag: str) -> dict:
    """wrk's figures for `url` (with `script` and its argument `tag`, for a create)."""
    extra = ["-s", script, url, "--", tag] if script else [url]
    return wrk_summary(wrk(*WRK, *extra))


def with_peak_connections(measure: Callable[[], dict]) -> dict:
    """measure()'s figures, and the most server connections seen while it ran, by way in."""
    db = compose("ps", "-q", "db").strip()
    watch = subprocess.Popen(
        ["docker", "exec", "-i", "-e", "PGAPPNAME=bench-watch", db, "psql", "-U", "app", "-tAq"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    watch.stdin.write(WATCH_CONNECTIONS)
    watch.stdin.flush()
    try:
        figures = measure()
    finally:
        # Ending `docker exec` would leave psql running in the container: end its session.
        compose("exec", "-T", "db", "psql", "-U", "app", "-tAqc", END_WATCH)
        out = watch.communicate(timeout=30)[0]
    samples = [tuple(map(int, line.split("|"))) for line in out.split() if "|" in line]
    return {
        **figures,
        "peak_pgbouncer": max((socket for socket, _ in samples), default=0),
        "peak_direct": max((tcp for _, tcp in samples), default=0),
    }


def throughput() -> dict[str, list[dict]]:
    """ROUNDS rounds of every target, interleaved: each target's figures, round by round."""
    seed()
    start_servers()
    results: dict[str, list[dict]] = {name: [] for name in TARGETS}
    for round_ in range(ROUNDS):
        for name, (url, script) in TARGETS.items():
            tag = f"r{round_}-{time.time_ns()}"
            results[name].append(with_peak_connections(partial(load, url, script, tag)))
        log(
            f"round {round_ + 1}/{ROUNDS}: "
            + ", ".join(f"{n} {r[-1]['rps']:.0f}/s" for n, r in results.items())
        )
    return results
