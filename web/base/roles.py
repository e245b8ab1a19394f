"""What the role that serves requests may do: the owner's grants to it, and their check.

Two roles by job (docs/security.md): the owner (MIGRATION_DATABASE_URL's user) owns the
database and its schema and runs migrations; the runtime role (DATABASE_URL's user) reads
and writes rows, nothing else. migrations/env.py grants, as the owner, after each upgrade
and under the migration lock; the start-up step runs `MISSING` first, so that a start at
head writes nothing. Standard library only: the start-up step imports no SQLAlchemy.
"""

from __future__ import annotations

from web.base.config import Settings
from web.base.quoting import identifier, literal
from web.base.revisions import VERSION_TABLE

DML = "SELECT, INSERT, UPDATE, DELETE"


def runtime_role(settings: Settings) -> str | None:
    """The role requests log in as, when it is not the one migrations use; else None."""
    runtime, owner = settings.database.user, settings.migration_database.user
    return runtime if runtime and owner and runtime != owner else None


def grants(database: str, runtime: str) -> list[str]:
    """The owner's statements, in `database`: idempotent, so they run after every upgrade."""
    role, db = identifier(runtime), identifier(database)
    return [
        # No one else may connect, nor create temporary tables (PUBLIC may, by default).
        f"REVOKE ALL ON DATABASE {db} FROM PUBLIC",
        f"GRANT CONNECT ON DATABASE {db} TO {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT {DML} ON ALL TABLES IN SCHEMA public TO {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
        # What the owner creates later (the next migration's tables) is granted as it is made.
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT {DML} ON TABLES TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {role}",
        # /readyz reads the schema's revision; only migrations write it (once there is one).
        f"DO $$ BEGIN IF to_regclass({literal(VERSION_TABLE)}) IS NOT NULL THEN"
        f" REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON {VERSION_TABLE} FROM {role};"
        " END IF; END $$",
    ]


def missing(runtime: str) -> str:
    """A query, as the owner, counting what `grants` would change (0: nothing to do)."""
    role = literal(runtime)
    every = " AND ".join(f"has_table_privilege({role}, c.oid, '{p}')" for p in DML.split(", "))
    # S608: the one value in it is the role's name, quoted as a literal.
    return f"""
        SELECT (SELECT count(*) FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p')
                  AND c.relname <> '{VERSION_TABLE}' AND NOT ({every}))
             + (SELECT count(*) FROM pg_class c
                WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'S'
                  AND NOT CASE c.relkind WHEN 'S'
                          THEN has_sequence_privilege({role}, c.oid, 'USAGE') END)
             + (SELECT count(*) FROM unnest(ARRAY['r', 'S']) AS kind(k)
                WHERE NOT EXISTS (
                    SELECT FROM pg_default_acl d, aclexplode(d.defaclacl) a
                    WHERE d.defaclrole = current_user::regrole
                      AND d.defaclnamespace = 'public'::regnamespace
                      AND d.defaclobjtype = kind.k::"char" AND a.grantee = {role}::regrole))
             + (NOT has_database_privilege({role}, current_database(), 'CONNECT'))::int
             + has_database_privilege('public', current_database(), 'CONNECT, TEMP')::int
             + coalesce(has_table_privilege({role}, to_regclass('{VERSION_TABLE}'),
                                            'INSERT, UPDATE, DELETE, TRUNCATE')::int, 0)
    """  # noqa: S608
