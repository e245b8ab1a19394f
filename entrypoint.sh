#!/bin/sh
# Container entrypoint. For the server (a command starting with gunicorn): the start-up step
# (web/container/startup.py) waits for the database, migrates it to this image's head, then
# execs gunicorn itself: one process all along, PID 1, which receives docker stop's SIGTERM
# (a shell as PID 1 would ignore it). Any other command (alembic, sh, pytest, ...) runs as it
# is, so that `alembic downgrade` is never preceded by an upgrade.
set -eu

if [ "${1:-}" = "gunicorn" ]; then
    exec python -m web.container.startup "$@"
fi

exec "$@"
