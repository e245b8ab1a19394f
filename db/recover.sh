#!/bin/sh
# recover.sh [--check] [TIME]: with the database stopped (deploy/recover.sh sees to it),
# restore PGDATA from pgBackRest's repository, set to replay the archived WAL up to TIME (a
# timestamp with a time zone), or to the end of the archive. The server does the replay when
# it next starts, then promotes. --delta: files that match the backup are kept, the rest
# replaced. --check: only say whether TIME is one.
set -eu
fail() { echo "error: $*" >&2; exit 1; }
check=
[ "${1:-}" != --check ] || { check=1; shift; }
if [ -n "${1:-}" ]; then
    when=$(date -u -d "$1" +%s 2>/dev/null) || fail "at=\"$1\" is not a time (at=\"2026-12-01 10:15:00+00\")"
    [ "$when" -le "$(date -u +%s)" ] || fail "at=\"$1\" is in the future; without at, make restore recovers to the latest archived WAL"
    [ -z "$check" ] || exit 0
    exec pgbackrest --delta --type=time --target="$1" --target-action=promote restore
fi
[ -z "$check" ] || exit 0
exec pgbackrest --delta restore
