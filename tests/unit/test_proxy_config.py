"""The proxy's and Prometheus's files state the app's own defaults (they cannot read them)."""

import re

from web.base.config import load_settings
from web.base.paths import ROOT

DEFAULTS = load_settings({"DATABASE_URL": "postgresql://u@h/d", "SECRET_KEY": "k"})


def test_caddy_body_limit_is_the_apps() -> None:
    caddyfile = (ROOT / "deploy" / "Caddyfile").read_text()
    limit = re.search(r"max_size \{\$MAX_CONTENT_LENGTH:(\d+)\}", caddyfile)
    assert limit and int(limit.group(1)) == DEFAULTS.max_content_length
    assert f"web:{DEFAULTS.port}" in caddyfile


def test_prometheus_scrapes_the_metrics_port() -> None:
    for name in ("prometheus.yml", "prometheus.swarm.yml"):
        config = (ROOT / "deploy" / "prometheus" / name).read_text()
        assert f"port: {DEFAULTS.metrics_port}\n" in config, name
