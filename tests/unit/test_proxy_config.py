"""The proxy's and Prometheus's files state the app's own defaults (they cannot read them)."""

import re
import subprocess
import sys

from gunicorn.workers.gthread import STOP_KEEPALIVE_LINGER

from web.base.config import load_settings
from web.base.paths import ROOT

DEFAULTS = load_settings({"DATABASE_URL": "postgresql://u@h/d", "SECRET_KEY": "k"})


def test_caddy_body_limit_is_the_apps() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    limit = re.search(r"max_size \{\$MAX_CONTENT_LENGTH:(\d+)\}", caddyfile)
    assert limit and int(limit.group(1)) == DEFAULTS.max_content_length
    assert f"web:{DEFAULTS.port}" in caddyfile


def test_caddy_closes_idle_connections_to_the_app_before_gunicorn() -> None:
    """Else a request Caddy sends on a connection as gunicorn closes it fails."""
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    idle = re.search(r"transport http \{\s*keepalive (\d+)s\n", caddyfile)
    # In a process of its own: importing gunicorn_conf sets up a gunicorn master.
    keepalive = subprocess.run(
        [sys.executable, "-c", "import web.container.gunicorn_conf as c; print(c.keepalive)"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert idle and int(idle.group(1)) < min(float(keepalive), STOP_KEEPALIVE_LINGER)


def test_prometheus_scrapes_the_metrics_port() -> None:
    for name in ("prometheus.yml", "prometheus.swarm.yml"):
        config = (ROOT / "deploy" / "prometheus" / name).read_text()
        assert f"port: {DEFAULTS.metrics_port}\n" in config, name
