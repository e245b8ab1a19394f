"""The configuration documents match the code: every variable, every default."""

import re

from web.config import load_settings
from web.container.schema_version import ROOT

CONFIG = (ROOT / "web" / "config.py").read_text()
VARIABLES = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', CONFIG))
SECRETS = set(re.findall(r'env\.secret\("([A-Z_]+)"\)', CONFIG))
EXAMPLE = (ROOT / ".env.example").read_text()


def test_every_variable_is_documented() -> None:
    assert len(VARIABLES) > 15
    readme = (ROOT / "README.md").read_text()
    for name in VARIABLES | {f"{secret}_FILE" for secret in SECRETS}:
        assert f"# {name}=" in EXAMPLE, f"{name} missing from .env.example"
        assert f"`{name}`" in readme, f"{name} missing from README"


def test_documented_defaults_are_the_real_ones() -> None:
    settings = load_settings({"DATABASE_URL": "postgresql://u@h/d", "SECRET_KEY": "k"})
    for name, value in re.findall(r"^# ([A-Z_]+)=(\S+)$", EXAMPLE, re.M):
        field = name.lower()
        if hasattr(settings, field) and name not in SECRETS:
            actual = getattr(settings, field)
            assert str(actual).lower() == value.lower(), (
                f"{name}: documented {value}, code {actual}"
            )


def test_where_things_live_names_real_paths() -> None:
    """Every path in the README's "Where things live" exists (the sample's, while it does)."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Where things live", 1)[1].split("\n## ", 1)[0]
    paths = [
        path
        for row in table.splitlines()
        if row.startswith("| `")
        for path in re.findall(r"`([^`]+)`", row.split("|")[1])
    ]
    assert len(paths) > 15
    sample = ROOT / "web" / "api" / "sample"
    for path in paths:
        if path.startswith("web/api/sample") and not sample.exists():
            continue  # `make remove-sample` deleted it, as the table says it would
        assert (ROOT / path).exists(), f"README names {path}, which does not exist"
