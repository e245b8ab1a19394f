#!/bin/sh
# The backup service (docker-compose.yml, deploy/stack.yml), beside db with its volumes: a
# pgBackRest backup every BACKUP_EVERY_HOURS (24), full when the last full one is older than
# BACKUP_FULL_EVERY_DAYS (7), else differential. The first one (full) is taken as soon as the
# stack first starts; a restart waits for the next one due. Retention: pgbackrest.conf.
set -eu
every=$((${BACKUP_EVERY_HOURS:-24} * 3600))
full_every=$((${BACKUP_FULL_EVERY_DAYS:-7} * 86400))
say() { echo "backup: $*"; }
# In the background and waited for, so that docker stop's SIGTERM ends it (and its backup).
child=
run() { "$@" & child=$!; wait "$child"; }
trap '[ -z "$child" ] || kill "$child" 2>/dev/null; exit 143' TERM INT

tries=0
until run pgbackrest stanza-create; do # idempotent; the database may still be starting
    tries=$((tries + 1))
    [ "$tries" -lt 30 ] || { say "error: no stanza after $tries tries"; exit 1; }
    run sleep 2
done
while :; do
    info=$(pgbackrest info --output=json)
    last=$(echo "$info" | jq '[.[0].backup[].timestamp.stop] | max // 0')
    last_full=$(echo "$info" | jq '[.[0].backup[] | select(.type == "full") | .timestamp.stop] | max // 0')
    now=$(date +%s)
    if [ $((now - last)) -lt "$every" ]; then
        run sleep $((last + every - now))
        continue
    fi
    type=diff
    [ $((now - last_full)) -lt "$full_every" ] || type=full
    say "taking a $type backup"
    run pgbackrest --type="$type" backup || { say "the $type backup failed; again in 5 minutes"; run sleep 300; }
done
