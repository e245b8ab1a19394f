"""The configuration documents match the code: every variable, every default."""

import re

from web.base.config import load_settings
from web.base.paths import ROOT


class Recorder(dict):
    """An environment that notes every variable the code asks it for."""

    def __init__(self, **env: str) -> None:
        super().__init__(env)
        self.asked: set[str] = set()

    def get(self, name: str, default: str | None = None) -> str | None:
        self.asked.add(name)
        return super().get(name, default)


def read_by_the_code() -> tuple[set[str], set[str]]:
    """(every variable load_settings reads, those it also takes as NAME_FILE)."""
    env = Recorder(DATABASE_URL="postgresql://u@h/d", SECRET_KEY="k")
    load_settings(env)
    files = {name for name in env.asked if name.endswith("_FILE")}
    return env.asked - files, {name.removesuffix("_FILE") for name in files}


VARIABLES, SECRETS = read_by_the_code()
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
