"""A managed PostgreSQL where the user supplies the two roles: docs/security.md's SQL, run as
an administrator that is not a superuser (CREATEROLE, CREATEDB, as providers give), under
this test's own names; then the start-up step migrates and grants, and a request is served
as the runtime role."""

import re
import secrets
from collections.abc import Iterator
from contextlib import closing

import psycopg2
import pytest
from psycopg2 import sql

from harness.appcopy import app_for
from harness.database import admin_connection, server
from harness.startup import startup
from web.base.paths import ROOT

pytestmark = pytest.mark.usefixtures("test_database")

NAMES = {"app_owner": "t_managed_owner", "app_runtime": "t_managed_runtime"}
ADMIN = "t_managed_admin"


def documented_sql(database: str, password: str) -> list[str]:
    """The managed section's SQL block, its names and passwords made this test's."""
    text = (ROOT / "docs" / "security.md").read_text()
    section = text[text.index("### A managed PostgreSQL") :]
    block = re.search(r"```sql\n(.*?)```", section, re.S)
    assert block, "docs/security.md: no SQL block under 'A managed PostgreSQL'"
    body = re.sub(r"--[^\n]*", "", block.group(1))
    for documented, ours in NAMES.items():
        body = re.sub(rf"\b{documented}\b", ours, body)
    body = re.sub(r"DATABASE app\b", f"DATABASE {database}", body)
    body = re.sub(r"PASSWORD '[^']*'", f"PASSWORD '{password}'", body)
    return [statement.strip() for statement in body.split(";") if statement.strip()]


def drop(database: str) -> None:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        name = sql.Identifier(database)
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        for role in (*NAMES.values(), ADMIN):
            cursor.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


@pytest.fixture
def managed(test_database: str) -> Iterator[tuple[str, str]]:
    database, password = f"{test_database}_managed", secrets.token_hex(16)
    drop(database)
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("CREATE ROLE {} LOGIN CREATEROLE CREATEDB PASSWORD {}").format(
                sql.Identifier(ADMIN), sql.Literal(password)
            )
        )
    host = server()
    admin = psycopg2.connect(
        host=host.host, port=host.port, user=ADMIN, password=password, dbname="postgres"
    )
    admin.autocommit = True  # CREATE DATABASE runs outside a transaction
    with closing(admin), admin.cursor() as cursor:
        for statement in documented_sql(database, password):
            cursor.execute(statement)
    try:
        yield database, password
    finally:
        drop(database)


def test_the_documented_roles_start_and_serve(managed: tuple[str, str]) -> None:
    database, password = managed
    host = server()
    where = f"{host.host}:{host.port}/{database}"
    env = {
        "DATABASE_URL": f"postgresql://{NAMES['app_runtime']}@{where}",
        "MIGRATION_DATABASE_URL": f"postgresql://{NAMES['app_owner']}@{where}",
        "DATABASE_PASSWORD": password,
        "DATABASE_PASSWORD_FILE": "",
        "MIGRATION_DATABASE_PASSWORD": password,
        "MIGRATION_DATABASE_PASSWORD_FILE": "",
    }
    result = startup(**env)
    assert result.returncode == 0, result.stderr
    assert "timeouts of the role requests log in as" in result.stderr + result.stdout

    client = app_for(database, **env).test_client()
    response = client.get("/readyz")  # reads the schema's revision, as the runtime role
    assert response.status_code == 200, response.get_json()

    runtime = psycopg2.connect(
        host=host.host,
        port=host.port,
        user=NAMES["app_runtime"],
        password=password,
        dbname=database,
    )
    with closing(runtime), runtime.cursor() as cursor:
        cursor.execute("SHOW statement_timeout")
        assert cursor.fetchone() == ("10s",)
        with pytest.raises(psycopg2.errors.InsufficientPrivilege):
            cursor.execute("CREATE TABLE t_managed_ddl (id int)")
