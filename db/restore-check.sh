#!/bin/sh
# restore-check.sh (make restore-check): restore the latest backup and its WAL into a
# throwaway data directory in this container, start it (archiving off: it must not write to
# the repository), then check alembic_version and read every table. Prints the restore time
# and the recovery point: the last transaction replayed, and how long before now it was.
set -eu
fail() { echo "restore-check: error: $*" >&2; exit 1; }
sql() { psql -X -At -v ON_ERROR_STOP=1 -h "$data" --username "${POSTGRES_USER:-postgres}" -d "${POSTGRES_DB:-postgres}" -c "$1"; }
data=$(mktemp -d)
trap 'pg_ctl -D "$data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$data"' EXIT
started=$(date +%s%N)
pgbackrest --log-level-console=warn --pg1-path="$data" --archive-mode=off restore
pg_ctl -D "$data" -l "$data/restore.log" -w -t 600 -o "-c archive_mode=off -c listen_addresses='' \
    -c unix_socket_directories='$data' -c port=5432" start >/dev/null || fail "it did not start: $(tail -n 5 "$data/restore.log")"
tries=0
until [ "$(sql 'SELECT pg_is_in_recovery()')" = f ]; do # replaying the WAL after the backup
    tries=$((tries + 1))
    [ "$tries" -lt 600 ] || fail "still recovering after 600 s"
    sleep 1
done
ms=$((($(date +%s%N) - started) / 1000000))
restored=$(printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100)))
revision=$(sql "SELECT string_agg(version_num, ', ') FROM alembic_version") || fail "no alembic_version table"
[ -n "$revision" ] || fail "alembic_version is empty"
tables=$(sql "SELECT format('%I.%I', schemaname, tablename) FROM pg_tables
    WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
rows=0
counts=
for table in $tables; do
    count=$(sql "SELECT count(*) FROM $table") || fail "$table does not read"
    rows=$((rows + count))
    counts="$counts${counts:+, }$table $count"
done
point=$(sql "SELECT coalesce(pg_last_xact_replay_timestamp()::text, 'the backup itself (no later transaction)')")
ago=$(sql "SELECT coalesce(round(extract(epoch FROM now() - pg_last_xact_replay_timestamp()))::text, '?')")
echo "restore-check: restored in ${restored}s; alembic_version $revision; $(echo "$tables" | wc -w) tables, $rows rows, all read"
echo "restore-check: rows: $counts"
echo "restore-check: recovery point $point (${ago}s before now)"
