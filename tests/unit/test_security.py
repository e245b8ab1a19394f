"""Safe defaults that need no database: development secrets refused behind a proxy, the
runtime role's grants, the roles' connection room, pinned images, bounded metric labels."""

import re

import pytest
from prometheus_client import REGISTRY

from harness.startup import settings
from web.base.config import DEV_ONLY_PREFIX, ConfigError
from web.base.paths import ROOT
from web.base.roles import grants, runtime_role

BEHIND_A_PROXY = {"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}
TWO_ROLES = {
    "DATABASE_URL": "postgresql://app_runtime@pgbouncer:6432/app",
    "MIGRATION_DATABASE_URL": "postgresql://app_owner@db:5432/app",
}


def test_the_committed_secrets_are_marked_development_only() -> None:
    folder = ROOT / "dev-only-secrets"
    files = sorted(path.name for path in folder.iterdir() if path.suffix != ".md")
    assert files == ["db_owner_password", "db_password", "postgres_password", "secret_key"]
    for name in files:
        assert (folder / name).read_text().startswith(DEV_ONLY_PREFIX), name


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        ("SECRET_KEY", "dev-only-insecure-secret-key"),
        ("DATABASE_PASSWORD", "dev-only-password"),
        ("MIGRATION_DATABASE_PASSWORD", "dev-only-owner-password"),
    ],
)
def test_development_secrets_are_refused_behind_a_proxy(setting: str, value: str) -> None:
    env = {**TWO_ROLES, setting: value}
    assert settings(**env)  # on 127.0.0.1 (no proxy believed): accepted
    with pytest.raises(ConfigError) as error:
        settings(**env, **BEHIND_A_PROXY)
    assert str(error.value).startswith(f"{setting} is a development secret")
    assert value not in str(error.value)
    real = {**TWO_ROLES, setting: "a-long-random-value", **BEHIND_A_PROXY}
    assert settings(**real).forwarded_allow_ips == ("10.0.0.0/8",)


def test_the_runtime_role_is_the_one_requests_use_when_it_is_not_the_owner() -> None:
    assert runtime_role(settings(**TWO_ROLES)) == "app_runtime"
    assert runtime_role(settings()) is None  # one role: nothing to grant


def test_grants_quote_the_role_and_database_names() -> None:
    statements = grants('my"db', 'run"time')
    assert 'GRANT CONNECT ON DATABASE "my""db" TO "run""time"' in statements
    assert all('"run""time"' in statement for statement in statements[1:])
    assert any(s.startswith("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT") for s in statements)


def test_the_owners_connection_room_is_the_budgets_reserve() -> None:
    room = re.search(r"^\\set owner_room (\d+)$", (ROOT / "db" / "roles.sql").read_text(), re.M)
    assert room and int(room.group(1)) == settings().db_reserved_connections


IMAGE = re.compile(r"\$\{(CADDY|PROMETHEUS|POSTGRES|PYTHON|DEBIAN)_IMAGE:-([^}]+)\}")


def test_images_are_pinned_to_a_release_and_the_same_everywhere() -> None:
    files = ["docker-compose.yml", "compose.proxy.yml", "deploy/stack.yml"]
    defaults: dict[str, set[str]] = {}
    for name in files:
        for variable, image in IMAGE.findall((ROOT / name).read_text()):
            defaults.setdefault(variable, set()).add(image)
    makefile = (ROOT / "Makefile").read_text()
    for variable, image in re.findall(r"\$\(or \$\((CADDY|PROMETHEUS)_IMAGE\),([^)]+)\)", makefile):
        defaults[variable].add(image)
    assert set(defaults) == {"CADDY", "PROMETHEUS", "POSTGRES", "PYTHON", "DEBIAN"}, defaults
    for variable, images in defaults.items():
        assert len(images) == 1, f"{variable}_IMAGE defaults differ: {images}"
        (image,) = images
        # A release (17, 2.11.4, trixie-slim), never `latest` or none at all.
        assert ":" in image and image.rpartition(":")[2] != "latest", image


def labelled(name: str, label: str) -> set[str]:
    return {
        sample.labels[label]
        for metric in REGISTRY.collect()
        if metric.name == name
        for sample in metric.samples
        if label in sample.labels
    }


def test_a_thousand_invented_methods_are_one_label() -> None:
    from harness.appcopy import app_for

    client = app_for("app").test_client()
    before = labelled("http_requests", "method")
    for n in range(1000):
        assert client.open(f"/nowhere/{n}", method=f"X{n:04d}").status_code in (404, 405)
    after = labelled("http_requests", "method")
    assert after - before <= {"other"}, sorted(after - before)[:10]
    assert "other" in after
    assert labelled("http_requests", "route") >= {"unmatched"}
    assert not any(route.startswith("/nowhere") for route in labelled("http_requests", "route"))
