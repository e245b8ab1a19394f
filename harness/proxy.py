"""The suite's stack behind Caddy (compose.proxy.yml), on 127.0.0.1 ports of its own
(E2E_HTTP_PORT, E2E_HTTPS_PORT), with Caddy's local CA for HTTPS on localhost."""

import os
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


@contextmanager
def behind_the_proxy(stack: Stack, restore: bool = True) -> Iterator[Stack]:
    """The suite's stack with Caddy in front; with `restore`, a fresh plain stack again
    afterwards (an upgrade leaves the database at a revision the suite's image lacks)."""
    proxied = stack.with_overlay(ROOT / "compose.proxy.yml")
    proxied.env = {
        **stack.env,
        "PROXY_HOST_IP": "127.0.0.1",
        "HTTP_PORT": str(HTTP_PORT),
        "HTTPS_PORT": str(HTTPS_PORT),
    }
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
