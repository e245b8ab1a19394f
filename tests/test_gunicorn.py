"""The real gunicorn, with the image's settings (web/container/gunicorn_conf.py)."""

import os
import signal
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.fixtures import database_url
from tests.support import wait_until
from web.container.schema_version import ROOT

WORKERS = 2
PORT = 18765
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
