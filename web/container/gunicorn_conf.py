"""gunicorn settings for a container, taken from web.config like everything else."""

import atexit
import logging
import os
import signal
import sys
import threading

from gunicorn.arbiter import Arbiter
from gunicorn.workers.base import Worker

from web.config import load_settings
from web.container import metrics_server
from web.container.logging_conf import gunicorn_logconfig

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


def child_exit(server: Arbiter, worker: Worker) -> None:
    metrics_server.worker_gone(worker.pid)


def on_exit(server: Arbiter) -> None:
    metrics_server.remove_directory()


def worker_exit(server: Arbiter, worker: Worker) -> None:
    """Close the worker's database connections, run its exit handlers, then end it
    without interpreter teardown.

    Python's orderly finalisation of a worker's heap took about 0.4 s, on every stop
    and rolling restart, and achieved nothing: what needs closing is closed here. The
    `atexit` handlers are what the interpreter would have run at exit (error reporters
    and tracers flush there), so they run first; os._exit() would skip them. The exit
    status the worker was leaving with (a boot error is 3) is kept.
    """
    from web.app.db import db

    leaving = sys.exc_info()[1]
    status = leaving.code if isinstance(leaving, SystemExit) else 1
    if worker.booted and hasattr(worker.wsgi, "app_context"):
        with worker.wsgi.app_context():
            for engine in db.engines.values():
                engine.dispose()
    atexit._run_exitfuncs()  # CPython's own hook for this; what sys.exit() would run
    logging.shutdown()
    os._exit(status if isinstance(status, int) else 1)
