"""What an attacker or an auditor would check on the running stack and the image."""

import subprocess

import requests

from harness.compose import BASE, PORT, ROOT, Stack, built_image, error_lines, image
from harness.security import assert_rows_only, role_check

IMAGE = image("web")  # the image this project's compose built
DEV_SECRETS = tuple(
    path.read_text().strip() for path in sorted((ROOT / "dev-only-secrets").glob("*_*"))
)
# The variables (in .env) that name each secret's file on the host.
SECRET_FILES = (
    "POSTGRES_PASSWORD_FILE",
    "MIGRATION_DATABASE_PASSWORD_FILE",
    "DATABASE_PASSWORD_FILE",
    "SECRET_KEY_FILE",
)


def in_image(*command: str) -> str:
    return subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", command[0], IMAGE, *command[1:]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_web_runs_as_a_non_root_user(running: Stack) -> None:
    uid = running.compose("exec", "-T", "web", "id", "-u").stdout.strip()
    assert uid != "0"
    assert running.container("web")["Config"]["User"] == "10001:10001"


def test_no_secret_in_any_layer_or_file() -> None:
    built_image("web")
    history = subprocess.run(
        ["docker", "history", "--no-trunc", IMAGE], capture_output=True, text=True, check=True
    ).stdout
    config = subprocess.run(
        ["docker", "image", "inspect", IMAGE], capture_output=True, text=True, check=True
    ).stdout
    for secret in DEV_SECRETS:
        assert secret not in history
        assert secret not in config
    assert "SECRET_KEY" not in config
    patterns = " ".join(f"-e {secret}" for secret in DEV_SECRETS)
    assert in_image("sh", "-c", f"grep -rlF {patterns} /app /venv || true") == ""
    assert sorted(in_image("ls", "-A", "/app").split()) == [
        "alembic.ini",
        "entrypoint.sh",
        "migrations",
        "web",
    ]


def test_database_is_not_published_and_web_only_on_loopback(running: Stack) -> None:
    assert running.container("db")["HostConfig"]["PortBindings"] in (None, {})
    bindings = running.container("web")["HostConfig"]["PortBindings"]["8000/tcp"]
    assert bindings == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]


def test_security_headers_and_no_debugger(running: Stack) -> None:
    response = requests.get(f"{BASE}/api/probe/items", timeout=5)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    debug = running.compose(
        "exec", "-T", "web", "python", "-c", "from web.container.wsgi import app; print(app.debug)"
    ).stdout.strip()
    assert debug == "False"
    # Werkzeug's debugger would answer these on any path ("/" leads to the API page).
    for path in ("/no-such-page?__debugger__=yes&cmd=resource&f=debugger.js", "/console"):
        probe = requests.get(f"{BASE}{path}", timeout=5)
        assert probe.status_code == 404
        assert probe.headers["Content-Type"] == "application/json"


# --- Roles by job (docs/security.md) --------------------------------------------------------


def test_requests_log_in_as_a_role_that_touches_rows_and_nothing_else(running: Stack) -> None:
    assert_rows_only(role_check([*running.base, "exec", "-T", "web", "python", "-"]))
    # Not a superuser: the owner (migrations) neither, nor may it create roles.
    owner = running.psql(
        "SELECT rolsuper, rolcreaterole, rolcreatedb FROM pg_roles WHERE rolname = 'app_owner'"
    )
    assert owner == "f|f|f"
    assert running.psql(
        "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'app'"
    ) == ("app_owner")
    assert (
        running.psql(
            "SELECT count(*) FROM pg_class WHERE relnamespace = 'public'::regnamespace"
            " AND relowner <> 'app_owner'::regrole"
        )
        == "0"
    )


def test_pgbouncer_cannot_use_the_shared_socket_as_the_superuser(running: Stack) -> None:
    """PgBouncer shares PostgreSQL's socket: a password is asked there too (db/pg_hba.conf)."""
    result = running.compose(
        *("exec", "-T", "pgbouncer", "psql", "-h", "/var/run/postgresql", "-U", "postgres"),
        *("-d", "app", "-c", "SELECT 1"),
        check=False,
    )
    assert result.returncode != 0
    assert 'Peer authentication failed for user "postgres"' in result.stderr


def test_development_secrets_are_refused_behind_a_proxy(running: Stack) -> None:
    result = running.run_web(FORWARDED_ALLOW_IPS="10.0.0.0/8")
    assert result.returncode == 1
    [line] = error_lines(result.stderr)
    assert line.startswith("error: SECRET_KEY is a development secret"), line
    assert "dev-only-insecure" not in result.stderr


def test_the_proxy_overlay_refuses_to_start_without_real_secrets() -> None:
    proxied = Stack().with_overlay(ROOT / "compose.proxy.yml")
    env = {name: "" for name in SECRET_FILES}
    result = proxied.compose("up", "-d", "proxy", check=False, **env)
    assert result.returncode != 0
    assert "is missing a value: set " in result.stderr, result.stderr
    assert any(f"set {name} in .env" in result.stderr for name in SECRET_FILES), result.stderr
