"""The suite's stack behind Caddy (compose.proxy.yml), on 127.0.0.1 ports of its own
(E2E_HTTP_PORT, E2E_HTTPS_PORT), with Caddy's local CA for HTTPS on localhost."""

import os
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness.compose import ROOT, Stack
from harness.waiting import wait_until

HTTP_PORT = int(os.environ.get("E2E_HTTP_PORT", "18081"))
HTTPS_PORT = int(os.environ.get("E2E_HTTPS_PORT", "18443"))
HTTPS = f"https://localhost:{HTTPS_PORT}"
CADDY_ROOT = "/data/caddy/pki/authorities/local/root.crt"


def real_secrets() -> dict[str, str]:
    """Four new random secrets, named as a host's .env names them (docs/security.md): files
    in a folder only root (the suite) may enter, each readable by the containers' users."""
    folder = Path(tempfile.mkdtemp(prefix="e2e-secrets-"))
    env = {}
    for variable, name in (
        ("POSTGRES_PASSWORD_FILE", "postgres_password"),
        ("MIGRATION_DATABASE_PASSWORD_FILE", "db_owner_password"),
        ("DATABASE_PASSWORD_FILE", "db_password"),
        ("SECRET_KEY_FILE", "secret_key"),
    ):
        (folder / name).write_text(secrets.token_hex(32) + "\n")
        (folder / name).chmod(0o444)
        env[variable] = str(folder / name)
    folder.chmod(0o700)
    return env


@contextmanager
def behind_the_proxy(stack: Stack, restore: bool = True) -> Iterator[Stack]:
    """The suite's stack with Caddy in front, on real secrets and so a new database volume
    (the roles take their passwords at its first start); with `restore`, a fresh plain
    stack again afterwards."""
    proxied = stack.with_overlay(ROOT / "compose.proxy.yml")
    proxied.env = {
        **stack.env,
        **real_secrets(),
        "PROXY_HOST_IP": "127.0.0.1",
        "HTTP_PORT": str(HTTP_PORT),
        "HTTPS_PORT": str(HTTPS_PORT),
    }
    stack.down(volumes=True)
    proxied.up()
    try:
        yield proxied
    finally:
        proxied.compose("rm", "--force", "--stop", "proxy", check=False)
        if restore:
            stack.fresh()


def caddy_ca(proxied: Stack) -> str:
    """Caddy's local root certificate, copied out of its volume."""
    path = Path(tempfile.mkdtemp(prefix="e2e-caddy-")) / "root.crt"
    wait_until(
        lambda: (
            proxied.compose("cp", f"proxy:{CADDY_ROOT}", str(path), check=False).returncode == 0
        ),
        "Caddy's local CA",
        timeout=30,
        interval=0.5,
    )
    return str(path)
