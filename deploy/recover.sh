#!/bin/sh
# make restore [at="2026-12-01 10:15:00+00"] [force=1]: recover the compose stack's database
# from pgBackRest's repository, to that moment or (without at) to the last archived WAL.
# Web and the backup service are stopped, then db (a clean stop archives its last WAL); the
# data directory is restored (db/recover.sh), db replays the WAL and promotes, and everything
# starts again; web migrates the result to the code's head. With force=1 only when the
# database holds data, or when it cannot be asked (stopped).
set -eu
cd "$(dirname "$0")/.."

at=${1:-}
force=${2:-}
fail() { echo "error: $*" >&2; exit 1; }
sql() { docker compose exec -T db sh -c 'psql -X -tAq --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c "$1"' sh "$1"; }

docker compose run --rm --no-deps -T db recover.sh --check "$at" || exit 1
if docker compose exec -T db pg_isready -q 2>/dev/null; then
    [ "$(docker compose exec -T db has-data.sh)" != t ] || [ "$force" = 1 ] ||
        fail "the database holds data; to replace it: make restore${at:+ at=\"$at\"} force=1"
elif docker compose run --rm --no-deps -T db sh -c 'test -s "$PGDATA/PG_VERSION"' 2>/dev/null; then
    [ "$force" = 1 ] || fail "db is not running and its volume holds a database; to replace it: force=1"
fi
docker compose run --rm --no-deps -T db pgbackrest info --output=json | grep -q '"label"' ||
    fail "the repository holds no backup yet (make backup takes one)"

docker compose stop web backup db
docker compose run --rm --no-deps -T db recover.sh "$at" ||
    fail "nothing was restored; db is stopped (docker compose up -d starts it as it was)"
# --no-recreate: the containers as they were made (an overlay's mounts included); db's is
# made anew only if it was removed.
docker compose up -d --wait --no-recreate db ||
    fail "db did not start on the restored data: docker compose logs db says why"
tries=0
until [ "$(sql 'SELECT pg_is_in_recovery()')" = f ]; do
    tries=$((tries + 1))
    [ "$tries" -le 600 ] || fail "db still replaying WAL after 600 s: docker compose logs db"
    sleep 1
done
# The new timeline's first WAL, archived now (check switches WAL and waits): until then a
# restore would replay the old timeline past the moment, mistake included.
docker compose exec -T db pgbackrest --log-level-console=warn check
docker compose up -d --wait --no-recreate backup
[ -z "$(docker compose ps -a -q web)" ] || docker compose start --wait web
echo "recovered to ${at:-the last archived WAL}; the database is at $(sql 'SELECT max(version_num) FROM alembic_version')"
