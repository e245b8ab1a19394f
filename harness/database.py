"""The test server: the suite's databases on the compose stack's PostgreSQL (tools container).

Tests never touch the app's own database: each gets one named after it (`app` ->
`app_test`, `app_test_<name>`), dropped and created afresh.
"""

from contextlib import closing
from functools import cache
from urllib.parse import quote

import psycopg2
from psycopg2 import sql

from web.base.config import DatabaseURL, load_settings


@cache
def server() -> DatabaseURL:
    """The server the tools container is pointed at (DATABASE_URL), read when first asked."""
    return load_settings().database


def suite_db() -> str:
    return f"{server().dbname}_test"


def database_url(name: str) -> str:
    """A DATABASE_URL for database `name` on the test server (the password stays in DATABASE_PASSWORD)."""
    user = quote(server().user or "", safe="")
    return f"postgresql://{user}@{server().host}:{server().port}/{name}"


def admin_connection(dbname: str = "postgres"):
    connection = psycopg2.connect(**{**server().connect_kwargs(), "dbname": dbname})
    connection.autocommit = True
    return connection


def recreate_database(name: str) -> str:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def query(dbname: str, statement: str, *args: object) -> list[tuple]:
    with closing(admin_connection(dbname)) as connection, connection.cursor() as cursor:
        cursor.execute(statement, args)
        return cursor.fetchall() if cursor.description else []
