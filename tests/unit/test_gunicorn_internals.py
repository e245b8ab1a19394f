"""The gunicorn internals web/container/gunicorn_conf.py relies on, checked one by one.

pyproject.toml holds gunicorn below 28; when an upgrade changes one of these, this fails
and names it. tests/test_gunicorn.py checks the same behaviour end to end.
"""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import gunicorn
import pytest
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.errors import HaltServer
from gunicorn.workers.gthread import ThreadWorker

HOOKS = ("when_ready", "pre_fork", "post_fork", "child_exit", "on_exit", "worker_exit")


class Bare(BaseApplication):
    """A gunicorn application with the given settings and a WSGI app that answers nothing."""

    def __init__(self, **settings: object) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for name, value in self.settings.items():
            self.cfg.set(name, value)

    def load(self) -> Callable:
        return lambda environ, start_response: []


@pytest.fixture
def handlers_kept() -> Iterator[None]:
    """This process's signal handlers, put back after the test (a master sets its own)."""
    saved = {number: signal.getsignal(number) for number in [*Arbiter.SIGNALS, signal.SIGCHLD]}
    yield
    for number, handler in saved.items():
        signal.signal(number, handler)


def master(**settings: object) -> Arbiter:
    """A real master with no workers, listening on a free port once started."""
    defaults = {"bind": "127.0.0.1:0", "workers": 0, "control_socket_disable": True}
    return Arbiter(Bare(**defaults, **settings))


@pytest.fixture
def arbiter(handlers_kept: None, tmp_path) -> Arbiter:
    return master(worker_tmp_dir=str(tmp_path))


def test_the_major_version_is_the_one_checked() -> None:
    assert gunicorn.version_info[0] == 27, (
        "gunicorn_conf.py was written against gunicorn 27: re-check each test here"
    )


def python(*lines: str) -> str:
    """What a fresh interpreter running `lines` prints; it must succeed."""
    script = "\n".join(lines)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_every_setting_and_hook_loads_as_gunicorn_loads_it() -> None:
    """gunicorn_conf.py's names are gunicorn settings, and its hooks take their arguments."""
    out = python(
        "from gunicorn.config import Config",
        "import web.container.gunicorn_conf as conf",
        "cfg = Config()",
        "names = [n for n in vars(conf) if n in cfg.settings]",
        "for name in names: cfg.set(name, getattr(conf, name))",
        "conf.metrics_server.remove_directory()",
        "print(' '.join(sorted(names)))",
    )
    assert set(HOOKS) <= set(out.split())


def test_atexit_run_exitfuncs_runs_the_registered_handlers() -> None:
    """exit_now() runs them itself, then os._exit() skips the interpreter's teardown."""
    out = python(
        "import atexit, os",
        "atexit.register(print, 'flushed')",
        "atexit._run_exitfuncs()",
        "os._exit(0)",
    )
    assert out == "flushed\n"


def test_the_masters_handlers_only_queue_signals(arbiter: Arbiter) -> None:
    """Why post_fork sets a worker's own handler: the master's, inherited, only queue."""
    arbiter.init_signals()
    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGQUIT):
        assert signal.getsignal(number) == arbiter.signal
    arbiter.signal(signal.SIGTERM, None)
    assert arbiter.SIG_QUEUE.get_nowait() == signal.SIGTERM


def test_wakeup_ends_the_masters_wait(arbiter: Arbiter) -> None:
    """when_ready's thread calls Arbiter.wakeup() to end the master's wait for signals."""
    threading.Timer(0.2, arbiter.wakeup).start()
    started = time.monotonic()
    assert arbiter.wait_for_signals(timeout=10) == []
    assert time.monotonic() - started < 5


def test_on_exit_runs_while_the_stop_is_handled(handlers_kept: None) -> None:
    """on_exit reads the exit status from the exception gunicorn is handling."""
    seen = []
    stopping = master(on_exit=lambda server: seen.append(sys.exc_info()[1]))
    stopping.SIG_QUEUE.put_nowait(signal.SIGTERM)
    with pytest.raises(SystemExit) as leaving:
        stopping.run()
    assert leaving.value.code == 0
    assert len(seen) == 1
    assert isinstance(seen[0], StopIteration)


def test_a_stop_closes_the_listeners_then_reaps_with_child_exit(arbiter: Arbiter) -> None:
    """child_exit knows a stop by the listeners gone, and the last worker by none left."""
    seen = []
    arbiter.cfg.set(
        "child_exit", lambda server, worker: seen.append((server.LISTENERS, dict(server.WORKERS)))
    )
    arbiter.LISTENERS = [socket.socket()]
    pid = os.fork()
    if pid == 0:  # a worker that only waits for its SIGTERM
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        time.sleep(30)
        os._exit(1)
    worker = ThreadWorker(1, os.getpid(), [], arbiter.app, 30, arbiter.cfg, arbiter.log)
    worker.pid = pid
    arbiter.WORKERS[pid] = worker
    arbiter.stop()
    assert seen == [([], {})]


def test_a_halt_carries_its_exit_status() -> None:
    """A worker that failed to boot halts the master with status 3, on the exception."""
    assert Arbiter.WORKER_BOOT_ERROR == 3
    assert HaltServer("Worker failed to boot.", Arbiter.WORKER_BOOT_ERROR).exit_status == 3


def test_a_worker_has_the_state_the_hooks_read(tmp_path) -> None:
    """post_fork ends a worker's loop with `alive` (as gunicorn's own handlers do);
    worker_exit reads `booted` and `wsgi`."""
    app = Bare(worker_tmp_dir=str(tmp_path))
    worker = ThreadWorker(1, 0, [], app, 30, app.cfg, app.cfg.logger_class(app.cfg))
    try:
        assert worker.alive is True
        assert worker.booted is False
        worker.load_wsgi()
        assert worker.wsgi is app.wsgi()
    finally:
        worker.tmp.close()
