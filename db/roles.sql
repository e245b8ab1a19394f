-- The roles by job (docs/security.md), created or brought up to date; idempotent. Run by
-- psql as the bootstrap superuser, in the app's database: at the database's first start
-- (mounted in /docker-entrypoint-initdb.d), and by `make db-roles` on a database made
-- before them, or after a password changed. Passwords are read from the secret files.
--
--   app_owner    owns the database and everything in it: migrations, backfills, backups
--   app_runtime  what requests log in as (through PgBouncer): rows only; the owner grants
--                them (web/base/roles.py, after each migration)
\set ON_ERROR_STOP on
\set owner_password `cat /run/secrets/db_owner_password`
\set runtime_password `cat /run/secrets/db_password`
\set postgres_password `cat /run/secrets/postgres_password`
-- Connections kept from app_runtime for the owner (migrations, start-up, backups, psql), on
-- top of the superusers' reserve: DB_RESERVED_CONNECTIONS's default (tests/unit checks it).
\set owner_room 5

-- The bootstrap superuser the backup service (pgBackRest) logs in as. A database made by
-- the single-role layout has `app` in its place: `postgres` is created beside it.
SELECT format('CREATE ROLE postgres SUPERUSER LOGIN PASSWORD %L', :'postgres_password')
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'postgres')
\gexec
SELECT 'CREATE ROLE app_owner' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_owner')
\gexec
SELECT 'CREATE ROLE app_runtime' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'app_runtime')
\gexec
ALTER ROLE app_owner WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    PASSWORD :'owner_password';
ALTER ROLE app_runtime WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    NOINHERIT PASSWORD :'runtime_password';
SELECT format('ALTER ROLE app_runtime CONNECTION LIMIT %s',
    current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
    - coalesce(current_setting('reserved_connections', true)::int, 0) - :owner_room)
\gexec

-- The owner owns the database (and so the public schema, pg_database_owner's) and every
-- object in it. On a database made by the single-role layout these belong to the bootstrap
-- superuser, whose objects REASSIGN OWNED cannot move: one ALTER each. A sequence that
-- belongs to a column moves with its table, as do indexes; extensions' objects stay theirs.
SELECT format('ALTER DATABASE %I OWNER TO app_owner', current_database())
\gexec
SELECT format('ALTER %s %s OWNER TO app_owner', CASE c.relkind WHEN 'S' THEN 'SEQUENCE'
           WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'TABLE' END, c.oid::regclass)
FROM pg_class c
WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
  AND c.relowner <> 'app_owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                  AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))
UNION ALL
SELECT format('ALTER TYPE %s OWNER TO app_owner', t.oid::regtype)
FROM pg_type t
WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'r')
  AND t.typowner <> 'app_owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_type'::regclass
                  AND d.objid = t.oid AND d.deptype = 'e')
UNION ALL
SELECT format('ALTER ROUTINE %s OWNER TO app_owner', p.oid::regprocedure)
FROM pg_proc p
WHERE p.pronamespace = 'public'::regnamespace AND p.proowner <> 'app_owner'::regrole
  AND NOT EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass
                  AND d.objid = p.oid AND d.deptype = 'e')
\gexec

-- Tables and sequences the owner creates are the runtime role's to use from the start,
-- whatever code creates them (the start-up step grants the rest: web/base/roles.py).
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO app_runtime;
ALTER DEFAULT PRIVILEGES FOR ROLE app_owner IN SCHEMA public
    GRANT USAGE, SELECT ON SEQUENCES TO app_runtime;
-- The owner may see and cancel the runtime role's sessions (pg_stat_activity: make
-- rehearse's sampler, an operator before a migration); it gains no other privilege by it.
GRANT app_runtime TO app_owner;
