"""Configuration: every setting from the environment, every mistake a one-line error naming it."""

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest

from tests.fixtures import SERVER, TEST_DB, admin_connection, database_url
from web.config import ConfigError, load_settings

GOOD = {"DATABASE_URL": "postgresql://app:secret@db:5432/app", "SECRET_KEY": "k"}


def settings(**env: str):
    return load_settings({**GOOD, **env})


def test_minimal_environment() -> None:
    loaded = settings()
    assert loaded.database.connect_kwargs() == {
        "host": "db",
        "port": 5432,
        "dbname": "app",
        "user": "app",
        "password": "secret",
    }
    assert loaded.debug is False
    assert loaded.migrate_on_start is True


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        (
            {"DATABASE_URL": "mysql://a@b/c"},
            "DATABASE_URL is malformed: scheme must be postgresql://",
        ),
        ({"DATABASE_URL": "db:5432/app"}, "DATABASE_URL is malformed"),
        (
            {"DATABASE_URL": "postgresql://app@db:5432/"},
            "DATABASE_URL is malformed: it needs a host and a database name",
        ),
        ({"DATABASE_URL": "postgresql:///app"}, "DATABASE_URL is malformed: it needs a host"),
        ({"DATABASE_URL": "postgresql://app@db:99999/app"}, "DATABASE_URL is malformed"),
        ({"DATABASE_URL": "postgresql://app@db:port/app"}, "DATABASE_URL is malformed"),
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"MIGRATE_ON_START": "2"}, "MIGRATE_ON_START must be true or false"),
        ({"DB_WAIT_TIMEOUT": "soon"}, "DB_WAIT_TIMEOUT must be an integer"),
        ({"PORT": "70000"}, "PORT must be between 1 and 65535"),
        ({"WEB_CONCURRENCY": "0"}, "WEB_CONCURRENCY must be >= 1"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL must be one of"),
    ],
)
def test_bad_settings_name_the_variable(env: dict, message: str) -> None:
    with pytest.raises(ConfigError) as error:
        settings(**env)
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)
    assert "secret" not in str(error.value)


def test_debug_needs_no_secret_key() -> None:
    assert settings(SECRET_KEY="", DEBUG="true").secret_key


def test_password_with_special_characters_round_trips() -> None:
    loaded = settings(DATABASE_URL="postgresql://app:p%25ss%40w%3Ard@db/app")
    assert loaded.database.password == "p%ss@w:rd"
    assert "p%ss" not in loaded.database.redacted()
    assert "p%ss" not in repr(loaded)


def test_database_password_overrides_the_url() -> None:
    assert settings(DATABASE_PASSWORD="other").database.password == "other"


def test_secrets_from_files(tmp_path: Path) -> None:
    (tmp_path / "key").write_text("from-a-file\n")
    (tmp_path / "url").write_text("postgresql://u@h/d\n")
    (tmp_path / "password").write_text("pw%@\n")
    loaded = load_settings(
        {
            "SECRET_KEY_FILE": str(tmp_path / "key"),
            "DATABASE_URL_FILE": str(tmp_path / "url"),
            "DATABASE_PASSWORD_FILE": str(tmp_path / "password"),
        }
    )
    assert loaded.secret_key == "from-a-file"
    assert loaded.database.host == "h"
    assert loaded.database.password == "pw%@"


def test_missing_secret_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^SECRET_KEY_FILE: cannot read .*/absent: No such file"):
        settings(SECRET_KEY="", SECRET_KEY_FILE=str(tmp_path / "absent"))


def test_secret_and_secret_file_together_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY and SECRET_KEY_FILE are both set"):
        settings(SECRET_KEY_FILE=str(tmp_path))


def test_cpu_count_sets_default_workers() -> None:
    assert settings().web_concurrency >= 3
    assert settings(WEB_CONCURRENCY="7").web_concurrency == 7


# --- the same mistakes at container start: python -m web.container.startup -------------------


def startup(**env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.container.startup"],
        env={**os.environ, "DB_WAIT_TIMEOUT": "2", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *parts: str) -> None:
    assert result.returncode != 0
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for part in parts:
        assert part in errors[0]


def test_startup_with_malformed_url() -> None:
    assert_one_line_error(startup(DATABASE_URL="http://x"), "DATABASE_URL is malformed")


def test_startup_with_wrong_password_hides_it() -> None:
    result = startup(DATABASE_PASSWORD="wrong-password-1234")
    assert_one_line_error(result, "password authentication failed")
    assert "wrong-password-1234" not in result.stderr + result.stdout


def test_startup_with_unknown_database() -> None:
    result = startup(DATABASE_URL=database_url("no_such_database"))
    assert_one_line_error(result, 'database "no_such_database" does not exist')


def test_startup_gives_up_on_an_unreachable_database() -> None:
    result = startup(DATABASE_URL="postgresql://app@127.0.0.1:1/app", DB_WAIT_TIMEOUT="2")
    assert_one_line_error(result, "127.0.0.1:1 not reachable after 2s (DB_WAIT_TIMEOUT)")


def test_startup_without_migrating(test_database: str) -> None:
    result = startup(MIGRATE_ON_START="false")
    assert result.returncode == 0, result.stderr
    assert "MIGRATE_ON_START is false" in result.stderr


def test_startup_on_a_role_whose_password_has_a_percent_sign() -> None:
    with closing(admin_connection()) as connection, connection.cursor() as cursor:
        cursor.execute("DROP ROLE IF EXISTS percent_user")
        cursor.execute("CREATE ROLE percent_user LOGIN PASSWORD 'p%ss@w:rd%'")
        cursor.execute(f"GRANT ALL ON DATABASE {TEST_DB} TO percent_user")
    url = f"postgresql://percent_user:p%25ss%40w%3Ard%25@{SERVER.host}:{SERVER.port}/{TEST_DB}"
    result = startup(DATABASE_URL=url, DATABASE_PASSWORD="", MIGRATE_ON_START="false")
    assert result.returncode == 0, result.stderr
