"""/metrics on METRICS_PORT, served by gunicorn's master for all its workers.

Each worker writes its values to files in PROMETHEUS_MULTIPROC_DIR (web/app/metrics.py);
prometheus-client's own server, a thread in the master, adds them up at each scrape, so
a scrape sees the whole container and no busy worker holds it up. It also says whether
/readyz answers 200, and what the start-up step recorded (web/container/startup.py). Its
port is not the app's: not published, and out of the proxy's reach.
"""

import json
import os
import shutil
import tempfile
import urllib.request
from collections.abc import Iterator
from typing import Any

from web.container.startup import STARTUP_RECORD

# prometheus-client is imported inside the functions below: it reads
# PROMETHEUS_MULTIPROC_DIR when first imported, and that is chosen after this module's import.


def use_fresh_directory() -> str:
    """Point prometheus-client at a new, empty directory in memory (values are written on
    every request); before it is imported. New for each master: old files would count."""
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
