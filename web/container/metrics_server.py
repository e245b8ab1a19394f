"""/metrics on METRICS_PORT, served by gunicorn's master for all its workers.

The plainest correct way with prometheus-client's multiprocess mode: each worker
writes its values to files in PROMETHEUS_MULTIPROC_DIR (web/app/metrics.py), and one
small HTTP server thread in the master (prometheus-client's own start_http_server)
adds them up at each scrape with a MultiProcessCollector. So a scrape sees the whole
container, not the one worker it happened to reach, and a busy or stuck worker cannot
hold the answer up. The port is another than the app's: it is not published, and the
proxy, which forwards to the app's port only, cannot route to it.

It also answers whether this container's /readyz says 200 (web_ready: asked at each
scrape, so that an alert can say "not ready"), and what the start-up step recorded
(web/container/startup.py): how long the step took, how long it waited for another
replica's migration lock, the schema revision the database was at when this
container started serving, and whether that was ahead of this code's head.
"""

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from typing import Any

from web.container.startup import STARTUP_RECORD

# prometheus-client is imported inside the functions below: gunicorn_conf.py imports this
# module before it has chosen PROMETHEUS_MULTIPROC_DIR, which prometheus-client reads
# when it is first imported.


def use_fresh_directory() -> str:
    """Point prometheus-client at a new, empty directory; call before it is imported.

    New for each master: files left by an earlier one would be counted as live values.
    In memory (/dev/shm): values are written on every request.
    """
    folder = tempfile.mkdtemp(prefix="metrics-", dir="/dev/shm")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
    return folder


def remove_directory() -> None:
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


class ContainerCollector:
    """A prometheus-client collector (anything with collect()): this container's state."""

    def __init__(self, ready_url: str) -> None:
        self.ready_url = ready_url

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily

        yield GaugeMetricFamily(
            "web_ready", "1 when /readyz answers 200 (checked at each scrape)", value=self.ready()
        )
        try:
            facts = json.loads(STARTUP_RECORD.read_text())
        except (OSError, ValueError):
            return  # started without the entrypoint's step (tests, a bare gunicorn)
        yield GaugeMetricFamily(
            "startup_duration_seconds",
            "Time the start-up step took: waiting for the database and migrating",
            value=facts["duration_seconds"],
        )
        yield GaugeMetricFamily(
            "startup_migration_lock_wait_seconds",
            "Time the start-up step waited for another replica's migration lock",
            value=facts["lock_wait_seconds"],
        )
        info = InfoMetricFamily(
            "schema_revision", "The schema revision the database was at on start-up"
        )
        info.add_metric([], {"revision": facts["revision"] or "none"})
        yield info
        yield GaugeMetricFamily(
            "schema_ahead",
            "1 when the database was ahead of this code's head on start-up (served unmigrated)",
            value=int(facts.get("ahead", False)),
        )

    def ready(self) -> int:
        try:
            with urllib.request.urlopen(self.ready_url, timeout=2) as response:  # noqa: S310 (our own port)
                return int(response.status == 200)
        except OSError:
            return 0


def serve(port: int, app_port: int) -> None:
    """Start the /metrics server thread (in gunicorn's master, from its when_ready hook)."""
    from prometheus_client import CollectorRegistry, multiprocess, start_http_server

    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    registry.register(ContainerCollector(f"http://127.0.0.1:{app_port}/readyz"))
    start_http_server(port, registry=registry)


def worker_gone(pid: int) -> None:
    """Drop a dead worker's live gauges (in flight, pool): its counters still count."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid)
