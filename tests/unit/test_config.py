"""Configuration: every setting from the environment, every mistake a one-line error naming it."""

from pathlib import Path

import pytest

from harness.startup import settings
from web.base.config import ConfigError, load_settings


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
