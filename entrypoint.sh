#!/bin/sh
# Container entrypoint. For the server (a command starting with gunicorn): wait
# for the database and migrate it to this image's head (web/container/startup.py), then
# hand over. Any other command (alembic, sh, pytest, ...) runs as it is, so that
# `alembic downgrade` is never preceded by an upgrade.
set -eu

if [ "${1:-}" = "gunicorn" ]; then
    python -m web.container.startup
fi

# exec: the command becomes PID 1's child-less successor and receives SIGTERM itself.
exec "$@"
