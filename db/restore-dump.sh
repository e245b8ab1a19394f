#!/bin/sh
# restore-dump.sh < FILE: replace every object in schema public (the schema itself, its grants
# and default privileges stay) with those of a pg_dump custom-format archive, in one
# transaction as the schema's owner, app_owner (so that app_runtime may use what it creates).
# COMMIT is sent only once pg_restore has read the whole archive: a truncated or damaged one,
# or any failing statement, changes nothing.
set -eu
done_marker="restore-dump: committed"
out=$({
    echo "BEGIN;"
    # Waits for no session's locks longer than this: the caller stops the app first.
    echo "SET lock_timeout = '${RESTORE_LOCK_TIMEOUT:-10s}';"
    cat <<'SQL'
DO $$
DECLARE statement text;
BEGIN
    FOR statement IN
        SELECT format('DROP %s IF EXISTS %s CASCADE', CASE c.relkind WHEN 'v' THEN 'VIEW'
               WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE'
               WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, c.oid::regclass)
        FROM pg_class c
        WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('DROP TYPE IF EXISTS %s CASCADE', t.oid::regtype)
        FROM pg_type t LEFT JOIN pg_class c ON c.oid = t.typrelid
        WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r', 'c')
          AND (t.typtype <> 'c' OR c.relkind = 'c')
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = t.oid AND d.deptype = 'e')
        UNION ALL
        SELECT format('DROP ROUTINE IF EXISTS %s CASCADE', p.oid::regprocedure)
        FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace
          AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.objid = p.oid AND d.deptype = 'e')
    LOOP
        EXECUTE statement;
    END LOOP;
END $$;
SQL
    pg_restore --no-owner --file=- && printf 'COMMIT;\n\\echo %s\n' "$done_marker"
} | psql -X -q -v ON_ERROR_STOP=1 --username app_owner --dbname "$POSTGRES_DB")
case $out in
*"$done_marker"*) ;;
*) echo "error: the restore was rolled back; nothing was changed" >&2; exit 1 ;;
esac
