"""Around every request: its id, its log line and its metrics.

The id is the client's X-Request-ID when it is a short token, else a new one; it is
returned in X-Request-ID and is on every line logged while the request is served. The app
writes the request's log line, not gunicorn: only the app knows the route and the id.
"""

import logging
import re
import time
import uuid

from flask import Flask, Response, g, request

from web.app.metrics import IN_FLIGHT, LATENCY, REQUESTS
from web.base.logs import request_id

# Letters, digits and - _ . : only, at most 64: nothing that could forge a log field.
REQUEST_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
# The route of a request that matched none (404, 405), so that a scan adds no series.
UNMATCHED = "unmatched"
logger = logging.getLogger("web.access")


def init_app(app: Flask, count: bool) -> None:
    """Request ids and log lines; with `count`, the request metrics too."""
    app.before_request(begin)
    app.after_request(finish)
    app.teardown_request(end)
    if count:
        app.before_request(IN_FLIGHT.inc)
        app.after_request(record)
        app.teardown_request(lambda _exc: IN_FLIGHT.dec())


def route() -> str:
    return request.url_rule.rule if request.url_rule else UNMATCHED


def begin() -> None:
    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    g.request_id_token = request_id.set(g.request_id)


def record(response: Response) -> Response:
    seconds = time.perf_counter() - g.started
    REQUESTS.labels(route(), request.method, response.status_code).inc()
    LATENCY.labels(route(), request.method).observe(seconds)
    return response


def finish(response: Response) -> Response:
    """Runs for every response, error handlers' included."""
    seconds = time.perf_counter() - g.started
    response.headers["X-Request-ID"] = g.request_id
    logger.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "route": route(),
            "path": request.path,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 2),
            "client": request.remote_addr,
        },
    )
    return response


def end(_exc: BaseException | None) -> None:
    """Always runs, even when building the response failed."""
    if "request_id_token" in g:
        request_id.reset(g.request_id_token)
