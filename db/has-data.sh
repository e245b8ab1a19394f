#!/bin/sh
# has-data.sh: prints t when a table in schema public holds a row, else f; Alembic's own two
# tables (the version and the revision graph) do not count.
# make restore asks it before replacing the database (force=1 to go on when t).
set -eu
exec psql -X -tA -v ON_ERROR_STOP=1 --username app_owner --dbname "$POSTGRES_DB" -c "
    SELECT coalesce(bool_or((xpath('/row/n/text()', query_to_xml(
        format('SELECT EXISTS (SELECT FROM %I.%I) AS n', schemaname, tablename), false, true, '')))[1]::text::boolean), false)
    FROM pg_tables WHERE schemaname = 'public'
        AND tablename NOT IN ('alembic_version', 'alembic_revision_graph')"
