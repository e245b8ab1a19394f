"""The test server: the suite's databases on the compose stack's PostgreSQL (tools container).

Tests never touch the app's own database: each gets one named after it (`app` ->
`app_test`, `app_test_<name>`), dropped and created afresh by the superuser
(TEST_SUPERUSER_URL, set for the tools container only), owned by the owner role
(MIGRATION_DATABASE_URL's user). The app under test logs in as the runtime role
(DATABASE_URL's user), which migrations grant what it needs (web/base/roles.py).
"""

import os
from contextlib import closing
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

import psycopg2
from psycopg2 import sql

from web.base.config import DatabaseURL, load_settings


@cache
def server() -> DatabaseURL:
    """Where the app under test connects (DATABASE_URL), read when first asked."""
    return load_settings().database


@cache
def owner() -> DatabaseURL:
    """Where migrations connect (MIGRATION_DATABASE_URL): the owner of the suite's databases."""
    return load_settings().migration_database


def suite_db() -> str:
    return f"{server().dbname}_test"


def url(of: DatabaseURL, name: str) -> str:
    """A URL for database `name` as `of`'s role (its password stays in its setting)."""
    user = quote(of.user or "", safe="")
    return f"postgresql://{user}@{of.host}:{of.port}/{name}"


def database_url(name: str) -> str:
    """A DATABASE_URL for database `name` on the test server: the runtime role's."""
    return url(server(), name)


def database_env(name: str) -> dict[str, str]:
    """The app's and its migrations' URLs for database `name`: what a test sets."""
    return {"DATABASE_URL": database_url(name), "MIGRATION_DATABASE_URL": url(owner(), name)}


@cache
def superuser() -> dict[str, str | int]:
    parts = urlsplit(os.environ["TEST_SUPERUSER_URL"])
    password = Path(os.environ["TEST_SUPERUSER_PASSWORD_FILE"]).read_text().strip()
    return {
        "host": parts.hostname or "",
        "port": parts.port or 5432,
        "user": parts.username or "",
        "password": password,
    }


def admin_connection(dbname: str = "postgres"):
    """The superuser's connection, in autocommit: for what tests set up and look at."""
    connection = psycopg2.connect(**superuser(), dbname=dbname)
    connection.autocommit = True
    return connection


def recreate_database(name: str) -> str:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        cursor.execute(
            sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(owner().user or "")
            )
        )
    return name


def query(dbname: str, statement: str, *args: object) -> list[tuple]:
    with closing(admin_connection(dbname)) as connection, connection.cursor() as cursor:
        cursor.execute(statement, args)
        return cursor.fetchall() if cursor.description else []


def as_owner(dbname: str, statement: str, *args: object) -> None:
    """`statement` as the owner role, as a migration would run it: what it creates is the
    owner's, and the runtime role is granted it (web/base/roles.py's default privileges)."""
    with closing(admin_connection(dbname)) as connection, connection.cursor() as cursor:
        cursor.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(owner().user or "")))
        cursor.execute(statement, args or None)
