"""gunicorn settings for a container, taken from web.config like everything else."""

from web.config import load_settings

_settings = load_settings()

bind = f"0.0.0.0:{_settings.port}"
workers = _settings.web_concurrency
# Threads let a worker overlap database waits and keep client connections alive.
worker_class = "gthread"
threads = _settings.gunicorn_threads
timeout = _settings.gunicorn_timeout
graceful_timeout = _settings.gunicorn_graceful_timeout
keepalive = 5
# The container's /tmp may be on overlayfs; heartbeats belong in memory.
worker_tmp_dir = "/dev/shm"  # noqa: S108 (a tmpfs, private to the container)
# No runtime control socket: nothing in the container uses gunicornc.
control_socket_disable = True
accesslog = "-"
errorlog = "-"
loglevel = _settings.log_level.lower()
# Behind a proxy on the container network; don't trust forwarded headers from anyone else.
forwarded_allow_ips = "127.0.0.1"
