"""The real gunicorn, with the image's settings (web/container/gunicorn_conf.py)."""

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from tests.fixtures import database_url
from tests.support import wait_until
from web.container.schema_version import ROOT

WORKERS = 2
PORT = 18765
# Where gunicorn_conf.py puts prometheus-client's per-process files (a tmpfs).
SHM = Path("/dev/shm")  # noqa: S108
APP_WITH_AN_EXIT_HANDLER = """
import atexit, os, pathlib
from web.app import create_app

app = create_app()
marks = pathlib.Path(os.environ["EXIT_MARKS"])
atexit.register(lambda: (marks / str(os.getpid())).write_text("flushed"))
"""


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 (http://127.0.0.1)
            return response.status == 200
    except OSError:
        return False


def children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def test_exit_handlers_run_in_every_worker_on_sigterm(tmp_path: Path, test_database: str) -> None:
    (tmp_path / "exit_handler_app.py").write_text(APP_WITH_AN_EXIT_HANDLER)
    marks = tmp_path / "marks"
    marks.mkdir()
    server = subprocess.Popen(
        ["gunicorn", "--config", "python:web.container.gunicorn_conf", "exit_handler_app:app"],
        cwd=tmp_path,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{tmp_path}",
            "DATABASE_URL": database_url(test_database),
            "EXIT_MARKS": str(marks),
            "WEB_CONCURRENCY": str(WORKERS),
            "PORT": str(PORT),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{PORT}/healthz"), "gunicorn serving")
        workers = wait_until(
            lambda: (found := children(server.pid)) and len(found) == WORKERS and found,
            f"{WORKERS} workers",
        )
        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        output = server.communicate(timeout=30)[0]
        took = time.monotonic() - stopping
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
    assert server.returncode == 0, output
    flushed = {int(path.name) for path in marks.iterdir()}
    assert workers <= flushed, (workers, flushed, output)
    assert took < 5, f"stopping took {took:.1f}s"


def test_metrics_add_up_every_worker(tmp_path: Path, test_database: str) -> None:
    """N requests spread over 5 workers: /metrics (served by the master) counts all N."""
    requests, workers, metrics_port = 300, 5, PORT + 1
    before = set(SHM.glob("metrics-*"))
    log = tmp_path / "gunicorn.log"  # a file, not a pipe: a full pipe would stall the workers
    server = subprocess.Popen(
        ["gunicorn", "--config", "python:web.container.gunicorn_conf", "web.container.wsgi:app"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": database_url(test_database),
            "WEB_CONCURRENCY": str(workers),
            "PORT": str(PORT),
            "METRICS_PORT": str(metrics_port),
            "LOG_FORMAT": "json",
        },
        stderr=log.open("w"),
    )
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{PORT}/healthz"), "gunicorn serving")
        wait_until(lambda: len(children(server.pid)) == workers, f"{workers} workers")

        def miss(_: int) -> int:  # a new connection each: gunicorn's workers take turns
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{PORT}/counted", timeout=5)
            except urllib.error.HTTPError as error:
                return error.code
            return 200

        with ThreadPoolExecutor(max_workers=16) as pool:
            assert set(pool.map(miss, range(requests))) == {404}
        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as r:
            scraped = r.read().decode()
        (folder,) = set(SHM.glob("metrics-*")) - before
        counted_by = {path.stem.split("_")[-1] for path in folder.glob("counter_*.db")}
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    values = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
    }
    unmatched = (("method", "GET"), ("route", "unmatched"), ("status", "404"))
    assert values[("http_requests_total", unmatched)] == requests
    assert values[("http_requests_in_flight", ())] == 0
    assert len(counted_by - {str(server.pid)}) > 1, "one worker served every request"
    lines = [json.loads(line) for line in log.read_text().splitlines()]  # every line written
    assert sum(line.get("route") == "unmatched" for line in lines) == requests
    assert any("Booting worker" in line["message"] for line in lines)
