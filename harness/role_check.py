"""What the role requests log in as may do, asked from inside a web container, as requests
connect (DATABASE_URL: through PgBouncer). Run there on the file's text:

    docker compose exec -T web python - probe_items < harness/role_check.py

Prints one JSON object: "allowed" and "denied", each statement -> "ok: <first value>" or its
SQLSTATE (42501 is "insufficient privilege"). The table named on the command line is one the app serves.
"""

import json
import sys

import psycopg2

from web.base.config import load_settings


def statements(table: str, owner: str) -> dict[str, list[str]]:
    """What requests need ("allowed"), and what they must not do ("denied")."""
    allowed = [
        f"SELECT count(*) >= 0 FROM {table}",
        f"UPDATE {table} SET id = id WHERE false",
        "SELECT version_num IS NOT NULL FROM alembic_version",
        "SHOW statement_timeout",
        "SHOW idle_in_transaction_session_timeout",
        "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls FROM pg_roles"
        " WHERE rolname = current_user",
        "SELECT rolconnlimit FROM pg_roles WHERE rolname = current_user",
    ]
    denied = [
        "COPY (SELECT 1) TO PROGRAM 'true'",
        "COPY (SELECT 1) TO '/tmp/role-check'",
        "SELECT pg_read_file('/etc/passwd')",
        "CREATE TABLE role_check (id int)",
        "CREATE TEMPORARY TABLE role_check (id int)",
        f"DROP TABLE {table}",
        "CREATE ROLE role_check",
        f'ALTER ROLE "{owner}" SET statement_timeout = 0',
        "UPDATE alembic_version SET version_num = version_num",
    ]
    return {"allowed": allowed, "denied": denied}


def main(table: str) -> None:
    settings = load_settings()
    connection = psycopg2.connect(**settings.database.connect_kwargs(), **settings.connect_args())
    connection.autocommit = True  # each statement on its own, as PgBouncer lends connections
    results: dict[str, dict[str, str]] = {}
    with connection.cursor() as cursor:  # not `with connection`: that would open a transaction
        for kind, listed in statements(table, settings.migration_database.user or "").items():
            results[kind] = {}
            for statement in listed:
                try:
                    cursor.execute(statement)
                    row = cursor.fetchone() if cursor.description else None
                    results[kind][statement] = f"ok: {row[0] if row else ''}"
                except psycopg2.Error as exc:
                    results[kind][statement] = exc.pgcode
    connection.close()
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1])
