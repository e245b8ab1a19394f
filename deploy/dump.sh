#!/bin/sh
# make dump [label]: a logical backup (pg_dump, custom format) of the compose stack's database
# to backups/app-<UTC time>[-label].dump: for moving between hosts and major versions (the
# continuous backups are make backup's). Readable by you only (umask 077), never over another
# file, checked with pg_restore --list once written; a dump that fails leaves no file.
set -eu
cd "$(dirname "$0")/.."
umask 077
set -C # noclobber: > fails on an existing file

mkdir -p backups
name="backups/app-$(date -u +%Y%m%dT%H%M%SZ)${1:+-$1}"
file="$name.dump"
n=1
while [ -e "$file" ] || [ -e "$file.partial" ]; do # two in one second
    n=$((n + 1))
    [ "$n" -le 100 ] || { echo "error: $name: 100 files of that name already" >&2; exit 1; }
    file="$name-$n.dump"
done
trap 'rm -f "$file.partial"' EXIT
docker compose exec -T db sh -c 'pg_dump --username app_owner --dbname "$POSTGRES_DB" --format custom' >"$file.partial"
docker compose exec -T db pg_restore --list <"$file.partial" >/dev/null ||
    { echo "error: the dump just written does not read back (pg_restore --list); removed" >&2; exit 1; }
# A hard link, then the partial name removed: fails, never replaces, if $file appeared since.
ln "$file.partial" "$file"
echo "$file"
