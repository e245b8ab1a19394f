"""gunicorn's gthread worker, refusing new connections as soon as a graceful stop begins.

gunicorn 27's worker stops accepting on SIGTERM but keeps its listening socket open until
its last request has finished: a connection made meanwhile waits in the kernel's backlog
and is reset when the worker exits. Closed at once, it is refused instead, which a proxy
retries elsewhere (Caddy dials `web`'s next address), so a stop under traffic drops none.
The master closes its own copy first (Arbiter.stop()).
"""

from gunicorn.workers.gthread import ThreadWorker


class Worker(ThreadWorker):
    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled)
        if not enabled and not self.alive:  # stopping, not only full (worker_connections)
            for listener in self.sockets:
                listener.close()  # gunicorn closes them again on its way out: a no-op
