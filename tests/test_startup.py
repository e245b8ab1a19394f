"""Configuration mistakes at container start (python -m web.container.startup): one line each."""

from contextlib import closing

import pytest

from harness.database import admin_connection, database_url, server
from harness.startup import assert_one_line_error, startup

pytestmark = pytest.mark.usefixtures("test_database")


def test_startup_with_malformed_url() -> None:
    assert_one_line_error(startup(DATABASE_URL="http://x"), "DATABASE_URL is malformed")


def test_startup_with_wrong_password_hides_it() -> None:
    result = startup(DATABASE_PASSWORD="wrong-password-1234", DATABASE_PASSWORD_FILE="")
    assert_one_line_error(result, "password authentication failed")
    assert "wrong-password-1234" not in result.stderr + result.stdout


def test_startup_with_unknown_database() -> None:
    result = startup(DATABASE_URL=database_url("no_such_database"))
    assert_one_line_error(result, 'database "no_such_database" does not exist')


def test_startup_gives_up_on_an_unreachable_database(test_database: str) -> None:
    unreachable = f"postgresql://{server().user}@127.0.0.1:1/{test_database}"
    result = startup(DATABASE_URL=unreachable, DB_WAIT_TIMEOUT="2")
    assert_one_line_error(result, "127.0.0.1:1 not reachable after 2s (DB_WAIT_TIMEOUT)")


def test_startup_without_migrating(test_database: str) -> None:
    result = startup(MIGRATE_ON_START="false")
    assert result.returncode == 0, result.stderr
    assert "MIGRATE_ON_START is false" in result.stderr


def test_startup_on_a_role_whose_password_has_a_percent_sign(test_database: str) -> None:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS percent_user")
        cursor.execute("CREATE ROLE percent_user LOGIN PASSWORD 'p%ss@w:rd%'")
        cursor.execute(f"GRANT ALL ON DATABASE {test_database} TO percent_user")
    url = f"postgresql://percent_user:p%25ss%40w%3Ard%25@{server().host}:{server().port}/{test_database}"
    # One role for both, as a single-role database has it.
    result = startup(
        DATABASE_URL=url,
        DATABASE_PASSWORD_FILE="",
        MIGRATION_DATABASE_URL="",
        MIGRATE_ON_START="false",
    )
    assert result.returncode == 0, result.stderr
