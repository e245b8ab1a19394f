"""The real gunicorn, with the image's settings (web/container/gunicorn_conf.py)."""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness.database import database_env
from harness.waiting import answers, wait_until
from web.base.paths import ROOT

pytestmark = pytest.mark.usefixtures("test_database")


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
# The same, with each worker held for BOOT_DELAY seconds right after its fork, before
# gunicorn has given it its signal handlers; it notes when it went on.
BOOT_DELAY = 1.0  # long enough for the test to see the fork and signal, even on a busy machine
APP_WITH_A_SLOW_BOOT = f"""{APP_WITH_AN_EXIT_HANDLER}
import time
def slow_boot():
    time.sleep({BOOT_DELAY})
    (marks / f"booted-{{os.getpid()}}").write_text(str(time.time()))
os.register_at_fork(after_in_child=slow_boot)
"""
# The same, with each worker failing to boot (3 is gunicorn's exit status for that).
APP_WITH_A_FAILED_BOOT = f"""{APP_WITH_AN_EXIT_HANDLER}
os.register_at_fork(after_in_child=lambda: os._exit(3))
"""
# The same, with only the first worker failing to boot: the master stops the others.
APP_WITH_ONE_FAILED_BOOT = f"""{APP_WITH_AN_EXIT_HANDLER}
def fail_the_first():
    try:
        (marks / "failed").open("x").close()
    except FileExistsError:
        return
    os._exit(3)
os.register_at_fork(after_in_child=fail_the_first)
"""

# The same, with a route that takes SLOW seconds and notes when it began.
SLOW = 6.0
APP_WITH_A_SLOW_ROUTE = f"""{APP_WITH_AN_EXIT_HANDLER}
import time
flask_app = app
def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        (marks / "slow-began").touch()
        time.sleep({SLOW})
    return flask_app(environ, start_response)
"""


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


def serve_with_exit_marks(
    app_source: str, folder: Path, database: str, workers: int = WORKERS
) -> subprocess.Popen:
    """gunicorn with the image's settings, serving `app_source`; each worker's exit
    handler writes a file named after its pid to folder/marks."""
    (folder / "exit_handler_app.py").write_text(app_source)
    (folder / "marks").mkdir()
    return subprocess.Popen(
        ["gunicorn", "--config", "python:web.container.gunicorn_conf", "exit_handler_app:app"],
        cwd=folder,
        env={
            **os.environ,
            "PYTHONPATH": f"{ROOT}{os.pathsep}{folder}",
            **database_env(database),
            "EXIT_MARKS": str(folder / "marks"),
            "WEB_CONCURRENCY": str(workers),
            "PORT": str(PORT),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def output_at_exit(server: subprocess.Popen) -> str:
    """What the server wrote, once it has exited (killed after 30 s)."""
    try:
        return server.communicate(timeout=30)[0]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def stop(server: subprocess.Popen) -> tuple[float, str]:
    """SIGTERM to the master: (seconds until it exited, its output)."""
    stopping = time.monotonic()
    server.send_signal(signal.SIGTERM)
    output = output_at_exit(server)
    return time.monotonic() - stopping, output


def test_exit_handlers_run_in_every_worker_on_sigterm(tmp_path: Path, test_database: str) -> None:
    server = serve_with_exit_marks(APP_WITH_AN_EXIT_HANDLER, tmp_path, test_database)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{PORT}/healthz"), "gunicorn serving")
        workers = wait_until(
            lambda: (found := children(server.pid)) and len(found) == WORKERS and found,
            f"{WORKERS} workers",
        )
    finally:
        took, output = stop(server)
    assert server.returncode == 0, output
    flushed = {int(path.name) for path in (tmp_path / "marks").iterdir()}
    assert workers <= flushed, (workers, flushed, output)
    assert took < 5, f"stopping took {took:.1f}s"


def test_a_stop_while_workers_boot_is_not_lost(tmp_path: Path, test_database: str) -> None:
    """SIGTERM reaching a worker before gunicorn has set its handlers still stops it.

    Without pre_fork/post_fork in gunicorn_conf.py, the worker's copy of the master's
    handler swallows the signal, and the stop takes GUNICORN_GRACEFUL_TIMEOUT (20 s).
    """
    server = serve_with_exit_marks(APP_WITH_A_SLOW_BOOT, tmp_path, test_database)
    try:
        workers = wait_until(lambda: children(server.pid), "a worker forked", interval=0.01)
    finally:
        signalled = time.time()
        took, output = stop(server)
    marks = tmp_path / "marks"
    woke = [float(path.read_text()) for path in marks.glob("booted-*")]
    assert any(at > signalled for at in woke), "the signal came after the workers booted"
    assert server.returncode == 0, output
    assert took < 5, f"stopping took {took:.1f}s\n{output}"
    flushed = {int(path.name) for path in marks.iterdir() if path.name.isdigit()}
    assert workers <= flushed, (workers, flushed, output)


def test_a_worker_that_fails_to_boot_stops_the_server_with_its_status(
    tmp_path: Path, test_database: str
) -> None:
    """The master's quick exit (on_exit in gunicorn_conf.py) keeps gunicorn's exit status.

    One worker: with more, gunicorn 27 raises the second failure out of its own halt().
    """
    server = serve_with_exit_marks(APP_WITH_A_FAILED_BOOT, tmp_path, test_database, workers=1)
    output = output_at_exit(server)
    assert server.returncode == 3, output
    assert "Worker failed to boot" in output
    assert "Shutting down: Master" in output  # its last line was written


def test_a_failed_boot_that_stops_other_workers_keeps_the_status(
    tmp_path: Path, test_database: str
) -> None:
    """The master ends as soon as its last worker is gone (child_exit in gunicorn_conf.py),
    with gunicorn's exit status and last lines, once the worker's exit handler has run."""
    server = serve_with_exit_marks(APP_WITH_ONE_FAILED_BOOT, tmp_path, test_database)
    output = output_at_exit(server)
    assert server.returncode == 3, output
    assert "Reason: Worker failed to boot." in output
    assert "Shutting down: Master" in output
    flushed = {int(path.name) for path in (tmp_path / "marks").iterdir() if path.name.isdigit()}
    assert server.pid in flushed, output  # the master's own (it preloaded the app)
    assert len(flushed - {server.pid}) == WORKERS - 1, output  # all but the failed worker


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
            **database_env(test_database),
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


def test_a_stopping_server_refuses_new_connections_and_finishes_its_request(
    tmp_path: Path, test_database: str
) -> None:
    """After SIGTERM, while a request is still under way, a new connection is refused (a
    proxy tries the next container) rather than accepted and reset at the worker's exit
    (web/container/worker.py); the request under way is answered."""
    server = serve_with_exit_marks(APP_WITH_A_SLOW_ROUTE, tmp_path, test_database)
    try:
        wait_until(lambda: answers(f"http://127.0.0.1:{PORT}/healthz"), "gunicorn serving")
        with ThreadPoolExecutor(max_workers=1) as pool:
            slow = pool.submit(urllib.request.urlopen, f"http://127.0.0.1:{PORT}/slow", timeout=30)
            wait_until((tmp_path / "marks" / "slow-began").exists, "the slow request")
            server.send_signal(signal.SIGTERM)
            refused = False
            deadline = time.monotonic() + SLOW - 1  # a generous bound, inside the request
            while not refused and time.monotonic() < deadline:
                try:
                    socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                except ConnectionRefusedError:
                    refused = True
                time.sleep(0.05)
            assert refused, "connections were still accepted while the stop was under way"
            assert not slow.done(), "the slow request ended before the refusal was seen"
            with pytest.raises(urllib.error.HTTPError) as answered:
                slow.result(timeout=30)
            assert answered.value.code == 404  # the app's own answer to /slow
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
        output_at_exit(server)
