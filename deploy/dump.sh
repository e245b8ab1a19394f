#!/bin/sh
# make backup: dump the compose stack's database (pg_dump, custom format) to
# backups/app-<UTC time>.dump. The shell that runs this writes the file, so it is
# yours; a dump that fails half way leaves no file behind.
set -eu
cd "$(dirname "$0")/.."

mkdir -p backups
file="backups/app-$(date -u +%Y%m%dT%H%M%SZ).dump"
trap 'rm -f "$file.partial"' EXIT
docker compose exec -T db pg_dump --username app --dbname app --format custom >"$file.partial"
mv "$file.partial" "$file"
echo "$file"
