"""The app's Prometheus metrics (prometheus-client, the Prometheus project's own library).

Each gunicorn worker keeps its values in files in PROMETHEUS_MULTIPROC_DIR, set by
web/container/gunicorn_conf.py before this is imported; the master adds them up on /metrics
(web/container/metrics_server.py). Without it (tests, Alembic) they live in this process.
Requests are counted by route template, never by path: one series per route.
"""

from collections.abc import Callable
from typing import Any

from flask import Flask
from prometheus_client import Counter, Gauge, Histogram
from sqlalchemy import Engine, event

from web.app.db import db

REQUESTS = Counter(
    "http_requests",
    "Requests answered, by route template, method and status",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request reaching the app to its response, by route template and method",
    ["route", "method"],
    # From a cached read (a few ms) to GUNICORN_TIMEOUT's neighbourhood.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
# livesum: the sum over the workers alive now (a dead worker's last value is dropped).
IN_FLIGHT = Gauge(
    "http_requests_in_flight", "Requests being served now", multiprocess_mode="livesum"
)
POOL_IN_USE = Gauge(
    "db_pool_connections_in_use",
    "Database connections checked out of the pool, by engine",
    ["engine"],
    multiprocess_mode="livesum",
)
POOL_WAITERS = Gauge(
    "db_pool_waiters",
    "Threads inside a pool checkout: waiting for a free connection, or opening one",
    ["engine"],
    multiprocess_mode="livesum",
)


def init_app(app: Flask) -> None:
    """Count every engine's pool: connections in use and threads waiting for one."""
    with app.app_context():  # creating engines opens no connection
        for bind, engine in db.engines.items():
            watch_pool(bind or "default", engine)


def watch_pool(name: str, engine: Engine) -> None:
    in_use, waiters = POOL_IN_USE.labels(name), POOL_WAITERS.labels(name)
    # Pool events, so any pool class is counted: a checkout is balanced by its checkin.
    event.listen(engine, "checkout", lambda *_: in_use.inc())
    event.listen(engine, "checkin", lambda *_: in_use.dec())
    # SQLAlchemy has no event before a checkout, so the engine's own way to a pooled
    # connection is wrapped: the threads inside it are the ones waiting for one.
    engine.raw_connection = _counted(engine.raw_connection, waiters)


def _counted(get: Callable[..., Any], waiters: Gauge) -> Callable[..., Any]:
    def raw_connection(*args: Any, **kwargs: Any) -> Any:
        waiters.inc()
        try:
            return get(*args, **kwargs)
        finally:
            waiters.dec()

    return raw_connection
