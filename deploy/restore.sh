#!/bin/sh
# make restore file=backups/<name>.dump [force=1]: put a backup made by `make backup`
# back into the compose stack's database, all or nothing.
set -eu
cd "$(dirname "$0")/.."

file=${1:-}
force=${2:-}
fail() { echo "error: $*" >&2; exit 1; }
in_db() { docker compose exec -T db "$@"; }

[ -n "$file" ] || fail "say which backup: make restore file=backups/<name>.dump"
[ -f "$file" ] || fail "$file: no such file"

# A custom-format archive of this app: its table of contents lists alembic_version.
toc=$(in_db pg_restore --list <"$file" 2>&1) || fail "$file is not a pg_dump custom-format archive ($(echo "$toc" | head -n 1))"
echo "$toc" | grep -q "TABLE DATA public alembic_version" || fail "$file is not a backup of this app (it has no alembic_version table)"

# Any row in any table but alembic_version counts as data worth keeping.
has_data=$(in_db psql --username app_owner --dbname app -tAc "
    SELECT coalesce(bool_or((xpath('/row/n/text()', query_to_xml(
        format('SELECT EXISTS (SELECT FROM %I.%I) AS n', schemaname, tablename), false, true, '')))[1]::text::boolean), false)
    FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'alembic_version'")
if [ "$has_data" = "t" ] && [ "$force" != "1" ]; then
    fail "the database holds data; to replace it with $file: make restore file=$file force=1"
fi

# One transaction, stopping at the first error: a truncated or damaged file changes nothing.
in_db pg_restore --username app_owner --dbname app --clean --if-exists --no-owner \
    --single-transaction --exit-on-error <"$file"
# The restored schema may be older than the code: a restart migrates it, and resets the pools.
docker compose restart web
echo "restored $file"
