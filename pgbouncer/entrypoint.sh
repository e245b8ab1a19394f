#!/bin/sh
# Write PgBouncer's configuration from the environment, then exec PgBouncer.
#
#   DATABASE_HOST, DATABASE_PORT (5432)   where PostgreSQL is (a host, or a socket folder: /...)
#   DATABASE_USER                         the role the app logs in as
#   DATABASE_PASSWORD / _FILE             its password (the app's own secret)
#   PGBOUNCER_POOL_SIZE (20)              server connections, at most, to PostgreSQL
#   PGBOUNCER_MAX_CLIENT_CONN (2000)      client connections (every worker's pools)
#   PGBOUNCER_QUERY_WAIT_TIMEOUT (10)     seconds a client may queue for a server connection
#
# The files go to a private folder in /tmp, readable by this user only: the password is in
# the container's memory and writable layer while it runs, never in the image.
set -eu

: "${DATABASE_HOST:?set DATABASE_HOST to PostgreSQL's host}"
: "${DATABASE_USER:?set DATABASE_USER to the role the app logs in as}"
if [ -n "${DATABASE_PASSWORD_FILE:-}" ]; then
    DATABASE_PASSWORD=$(cat "$DATABASE_PASSWORD_FILE")
fi
: "${DATABASE_PASSWORD:?set DATABASE_PASSWORD or DATABASE_PASSWORD_FILE}"

dir=$(mktemp -d /tmp/pgbouncer.XXXXXX)
umask 077

# userlist.txt: "user" "password", with any double quote doubled. PgBouncer knows the plain
# password, so it can authenticate the app (SCRAM) and log in to PostgreSQL (SCRAM) with it.
quote() { printf '"%s"' "$(printf '%s' "$1" | sed 's/"/""/g')"; }
printf '%s %s\n' "$(quote "$DATABASE_USER")" "$(quote "$DATABASE_PASSWORD")" >"$dir/userlist.txt"

cat >"$dir/pgbouncer.ini" <<INI
[databases]
; Every database name the client asks for, on the same server.
* = host=${DATABASE_HOST} port=${DATABASE_PORT:-5432}

[pgbouncer]
listen_addr = *
listen_port = 6432
unix_socket_dir =
auth_type = scram-sha-256
auth_file = $dir/userlist.txt
; A server connection is lent for one transaction, then returned: many client connections
; share few server ones. Session state (SET, advisory locks, LISTEN) does not survive it,
; which is why start-up and migrations connect to PostgreSQL directly.
pool_mode = transaction
default_pool_size = ${PGBOUNCER_POOL_SIZE:-20}
; The ceiling on server connections, whatever the number of users and databases.
max_db_connections = ${PGBOUNCER_POOL_SIZE:-20}
max_client_conn = ${PGBOUNCER_MAX_CLIENT_CONN:-2000}
; A client queued longer than this gets an error (the app answers 503) instead of hanging.
query_wait_timeout = ${PGBOUNCER_QUERY_WAIT_TIMEOUT:-10}
; Retry a failed server login soon: PostgreSQL restarting should cost seconds, not 15.
server_login_retry = 1
; Log connections only when something fails; stats every minute.
log_connections = 0
log_disconnections = 0
INI

exec pgbouncer "$dir/pgbouncer.ini"
