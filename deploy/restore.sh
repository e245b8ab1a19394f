#!/bin/sh
# make restore file=backups/<name>.dump [force=1]: replace the compose stack's database with a
# logical backup (make dump), all or nothing. For moving between hosts and major versions;
# recovery on this host is make restore [at=...] (deploy/recover.sh).
#   1. checks the file (db/check-archive.sh) and, with force=1 only, replaces data;
#   2. dumps what it replaces first (backups/app-<time>-before-restore.dump);
#   3. stops web (in-flight requests finish), replaces every object of the schema with the
#      archive's in one transaction (db/restore-dump.sh), and starts web, which migrates the
#      restored schema to the code's head. Web is started again whatever happened.
set -eu
cd "$(dirname "$0")/.."

file=${1:-}
force=${2:-}
fail() { echo "error: $*" >&2; exit 1; }
in_db() { docker compose exec -T db "$@"; }

[ -n "$file" ] || fail "say which backup: make restore file=backups/<name>.dump"
[ -f "$file" ] || fail "$file: no such file"
why=$(in_db check-archive.sh <"$file" 2>&1) || fail "$file $why"
if [ "$(in_db has-data.sh)" = t ] && [ "$force" != 1 ]; then
    fail "the database holds data; to replace it with $file: make restore file=$file force=1"
fi
safety=$(sh deploy/dump.sh before-restore) || fail "the safety dump failed; nothing was changed"
echo "what is replaced, dumped first: $safety (make restore file=$safety force=1 puts it back)"

# start, not up: web's container as it was made (an overlay's mounts included).
trap 'docker compose start --wait web >/dev/null 2>&1' EXIT
docker compose stop web
in_db restore-dump.sh <"$file"
trap - EXIT
docker compose start --wait web
echo "restored $file; web migrated it to the code's head"
