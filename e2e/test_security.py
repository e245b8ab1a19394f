"""What an attacker or an auditor would check on the running stack and the image."""

import subprocess

import requests

from harness.compose import BASE, PORT, Stack, built_image, image

IMAGE = image("web")  # the image this project's compose built
DEV_SECRETS = ("dev-only-password", "dev-only-insecure-secret-key")


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
    assert (
        in_image(
            "sh", "-c", f"grep -rlF -e {DEV_SECRETS[0]} -e {DEV_SECRETS[1]} /app /venv || true"
        )
        == ""
    )
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
    for path in ("/?__debugger__=yes&cmd=resource&f=debugger.js", "/console"):
        probe = requests.get(f"{BASE}{path}", timeout=5)
        assert probe.status_code == 404
        assert probe.headers["Content-Type"] == "application/json"
