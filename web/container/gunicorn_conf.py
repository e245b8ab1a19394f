"""gunicorn settings for a container, taken from web.base.config like everything else."""

import atexit
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

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# Threads let a worker overlap database waits and keep client connections alive.
worker_class = "gthread"
threads = _settings.gunicorn_threads
timeout = _settings.gunicorn_timeout
graceful_timeout = _settings.gunicorn_graceful_timeout
keepalive = 5
# Import the app once in the master and fork the workers from it: they are serving in
# a fraction of the time, and share the imported code's memory. Safe because
# create_app() opens no connection; each worker opens its own. Reload (development,
# GUNICORN_RELOAD) needs each worker to import the code itself.
reload = _settings.gunicorn_reload
preload_app = not reload
# The container's /tmp may be on overlayfs; heartbeats belong in memory.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (a tmpfs, private to the container)
# No runtime control socket: nothing in the container uses gunicornc.
control_socket_disable = True
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
    """Let the master notice SIGTERM at once.

    gunicorn 27's master waits for signals on a queue whose wait a signal cannot
    interrupt, so it reacts up to a second late, and every stop or rolling restart
    pays for it. The signal module writes each signal's number to a wakeup fd at
    the C level; a thread blocked on that fd calls Arbiter.wakeup(), which ends the
    wait. (Workers set a wakeup fd of their own after the fork.)
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
    """Hold stop signals across the fork: see post_fork."""
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)


def post_fork(server: Arbiter, worker: Worker) -> None:
    """In a new worker: take a stop signal that came while it was being forked.

    Until gunicorn sets a worker's own handlers, the worker has the master's, which
    only queue the signal for a master loop it does not run: a stop (a restart, a
    rolling update) that reached a booting worker was lost, and the master waited out
    GUNICORN_GRACEFUL_TIMEOUT before it killed the worker. Held back since pre_fork,
    such a signal is delivered here, once the worker can act on it: it stops before
    serving.
    """

    def stop_before_serving(signum: int, frame: object) -> None:
        worker.alive = False

    for stop_signal in STOP_SIGNALS:
        signal.signal(stop_signal, stop_before_serving)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)


# The master, once it has forked a worker, takes its stop signals again.
os.register_at_fork(
    after_in_parent=lambda: signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
)


def child_exit(server: Arbiter, worker: Worker) -> None:
    metrics_server.worker_gone(worker.pid)


def exit_now(status: int) -> None:
    """End this process the way sys.exit() would, without interpreter teardown.

    Python's orderly finalisation of a heap holding the app took 0.25 to 0.4 s, on
    every stop and rolling restart, and achieved nothing: what needs closing is
    closed by then. The `atexit` handlers are what the interpreter would have run
    at exit (error reporters and tracers flush there), so they run first; a bare
    os._exit() would skip them.
    """
    atexit._run_exitfuncs()  # CPython's own hook for this; what sys.exit() would run
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def on_exit(server: Arbiter) -> None:
    """The master's last step. gunicorn calls it while handling what stopped the
    master, so that tells the exit status it was about to use (a worker that failed
    to boot is 3)."""
    metrics_server.remove_directory()
    exit_now(getattr(sys.exc_info()[1], "exit_status", 0))


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Close the worker's database connections, then end it as on_exit ends the
    master, keeping the exit status it was leaving with (a boot error is 3)."""
    from web.app.db import db

    leaving = sys.exc_info()[1]
    status = leaving.code if isinstance(leaving, SystemExit) else 1
    if worker.booted and hasattr(worker.wsgi, "app_context"):
        with worker.wsgi.app_context():
            for engine in db.engines.values():
                engine.dispose()
    exit_now(status if isinstance(status, int) else 1)
