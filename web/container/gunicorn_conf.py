"""gunicorn settings for a container, taken from web.base.config like everything else.

The hooks below rely on gunicorn 27's internals (pyproject.toml holds it below 28;
tests/unit/test_gunicorn_internals.py checks what they use).
"""

import atexit
import gc
import logging
import os
import signal
import sys
import threading

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from web.base.config import load_settings
from web.base.logs import gunicorn_logconfig
from web.container import metrics_server

_settings = load_settings()
# Before the app (and with it prometheus-client) is imported, in the master or a worker.
metrics_server.use_fresh_directory()
# No garbage collection while the master imports the app: the collector would walk the
# growing heap many times over, for no garbage. Frozen before each fork, the imported
# objects are never walked again, so workers share their memory pages (the recipe of
# Python's gc.freeze() documentation); collection resumes after each fork.
gc.disable()

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# Threads let a worker overlap database waits and keep client connections alive; this
# gthread worker refuses new connections as soon as it is stopping (web/container/worker.py).
worker_class = "web.container.worker.Worker"
threads = _settings.gunicorn_threads
timeout = _settings.gunicorn_timeout
graceful_timeout = _settings.gunicorn_graceful_timeout
keepalive = 5
# The app is imported once, in the master, and the workers are forked from it: they serve
# sooner and share its memory. Safe because create_app() opens no connection. Reload
# (development) needs each worker to import the code itself.
reload = _settings.gunicorn_reload
preload_app = not reload
# The container's /tmp may be on overlayfs; heartbeats belong in memory.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (a tmpfs, private to the container)
control_socket_disable = True  # nothing in the container uses gunicornc
# No access log: the app writes one line per request (web/app/access.py), with its route
# and request id; gunicorn's own lines and the app's go out in LOG_FORMAT.
accesslog = None
errorlog = "-"
loglevel = _settings.log_level.lower()
logconfig_dict = gunicorn_logconfig(_settings.log_format, _settings.log_level)
logging.captureWarnings(True)  # Python's warnings too, as log lines, not bare text
# Behind a proxy on the container network; don't trust forwarded headers from anyone else.
forwarded_allow_ips = "127.0.0.1"


def when_ready(server: Arbiter) -> None:
    """Let the master notice a signal at once, and serve /metrics.

    The master waits for signals on a queue that a signal does not wake, so it would
    react up to a second late. The signal module writes each signal's number to a
    wakeup fd; a thread reading it calls Arbiter.wakeup(), which ends the wait.
    """
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    signal.set_wakeup_fd(write_end)

    def nudge() -> None:
        while os.read(read_end, 64):
            server.wakeup()

    threading.Thread(target=nudge, name="signal-wakeup", daemon=True).start()
    if _settings.metrics_port:  # 0: no metrics
        metrics_server.serve(_settings.metrics_port, _settings.port)


# The signals that stop a worker (TERM: gracefully; INT and QUIT: at once).
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT}


def pre_fork(server: Arbiter, worker: Worker) -> None:
    """Hold stop signals across the fork (see post_fork), and freeze the heap (gc above)."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    gc.freeze()


def post_fork(server: Arbiter, worker: Worker) -> None:
    """In a new worker: take a stop signal that came while it was being forked.

    Until gunicorn sets a worker's own handlers, it has the master's, which only queue
    the signal for a loop the worker does not run: the stop was lost, and the master
    waited GUNICORN_GRACEFUL_TIMEOUT before killing the worker. Held since pre_fork, the
    signal arrives here, where it ends the worker before it serves.
    """

    def stop_before_serving(signum: int, frame: object) -> None:
        worker.alive = False

    gc.enable()
    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, stop_before_serving)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


def _after_fork_in_master() -> None:
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    gc.enable()


os.register_at_fork(after_in_parent=_after_fork_in_master)


def child_exit(server: Arbiter, worker: Worker) -> None:
    """A worker is gone. The last one during a stop ends the master at once: gunicorn's
    stop loop would sleep another 0.1 s before it noticed."""
    metrics_server.worker_gone(worker.pid)
    if not server.LISTENERS and not server.WORKERS:  # Arbiter.stop() closes the listeners
        finish_stop(server)


def finish_stop(server: Arbiter) -> None:
    """The end of gunicorn's Arbiter.halt(): its last lines, then on_exit."""
    stopping = sys.exc_info()[1]
    failed = exit_status(stopping) != 0
    say = server.log.error if failed else server.log.info
    say("Shutting down: %s", server.master_name)
    if reason := getattr(stopping, "reason", None):
        say("Reason: %s", reason)
    on_exit(server)


def exit_status(stopping: BaseException | None) -> int:
    """The master's exit status, from what gunicorn is handling as it stops: a HaltServer
    carries one (a worker that failed to boot: 3), a signal is 0, a crash is -1."""
    if stopping is None or isinstance(stopping, StopIteration | KeyboardInterrupt):
        return 0
    return getattr(stopping, "exit_status", -1)


def exit_now(status: int) -> None:
    """End this process as sys.exit() would, without the interpreter's teardown, which
    takes long on a heap holding the app and achieves nothing (docs/benchmarks.md). The
    exit handlers run first (error reporters and tracers flush there)."""
    atexit._run_exitfuncs()  # CPython's own hook for this; what sys.exit() would run
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def on_exit(server: Arbiter) -> None:
    """The master's last step, with the exit status gunicorn was about to use."""
    metrics_server.remove_directory()
    exit_now(exit_status(sys.exc_info()[1]))


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Close the worker's database connections, then end it as on_exit ends the master,
    keeping the exit status it was leaving with (a boot error is 3)."""
    from web.app.db import db

    leaving = sys.exc_info()[1]
    status = leaving.code if isinstance(leaving, SystemExit) else 1
    if worker.booted and hasattr(worker.wsgi, "app_context"):
        with worker.wsgi.app_context():
            for engine in db.engines.values():
                engine.dispose()
    exit_now(status if isinstance(status, int) else 1)
