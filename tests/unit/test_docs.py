"""The documents match the tree: every variable and default, make target, link, anchor and
shell command named in README.md and docs/ exists, and the README stays short."""

import re
import shlex
from pathlib import Path

from web.base.config import load_settings
from web.base.paths import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SAMPLE = ROOT / "web" / "api" / "sample"
COMPOSE_FILES = [ROOT / "docker-compose.yml", *sorted(ROOT.glob("compose.*.yml"))]
# Where a documented shell command must appear, unless its block is marked illustrative.
RUN_BY = ["tests", "e2e", ".ci", "harness", ".github/workflows"]
SHELL_BLOCKS = {"sh", "shell", "console", "bash"}

# Names in capitals, in backticks, that are not environment variables, each with its reason.
NOT_VARIABLES = {
    "KEY": "a backfill module's attribute (migrations/backfills/)",
    "TABLE": "a backfill module's attribute",
    "SQL": "a backfill module's attribute",
    "BATCH_SIZE": "a backfill module's attribute",
    "ANALYZE": "SQL",
    "BEFORE": "SQL (ALTER TYPE ... ADD VALUE ... BEFORE)",
    "SET": "SQL",
    "LISTEN": "SQL",
    "VALIDATE": "SQL",
    "CONCURRENTLY": "SQL",
    "USAGE": "SQL (a privilege)",
    "CONNECT": "SQL (a privilege)",
    "TEMPORARY": "SQL (a privilege)",
    "SUPERUSER": "SQL (a role attribute)",
    "CREATEDB": "SQL (a role attribute)",
    "CREATEROLE": "SQL (a role attribute)",
    "NET_BIND_SERVICE": "a Linux capability",
    "CONFIG_CRYPTO_GCM": "a Linux kernel option",
    "CONFIG_INET_ESP": "a Linux kernel option",
    "INVALID": "an index's state in PostgreSQL",
    "INFO": "a log level, a value of LOG_LEVEL",
    "SIGKILL": "a signal",
    "CMD": "a Dockerfile instruction",
    "PGDATA": "the official postgres image's data directory variable, set by the image",
    "ENTRYPOINT": "a Dockerfile instruction",
    "HEALTHCHECK": "a Dockerfile instruction",
    "USER": "a Dockerfile instruction",
    "NAME": "a placeholder: NAME and NAME_FILE",
    "NAME_FILE": "a placeholder",
}


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


def interpolated() -> set[str]:
    """Every ${NAME...} that docker-compose.yml and compose.*.yml interpolate."""
    return {
        name
        for path in COMPOSE_FILES
        for name in re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", path.read_text())
    }


def set_in_files() -> set[str]:
    """Variables the compose files, the swarm stack and the Dockerfiles set or interpolate,
    the shell scripts read and .env.example lists."""
    names: set[str] = set()
    for path in [*COMPOSE_FILES, ROOT / "deploy" / "stack.yml"]:
        text = path.read_text()
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
        names |= set(re.findall(r"^\s+-?\s*([A-Z][A-Z0-9_]+)(?::|$)", text, re.M))
    for path in [folder / "Dockerfile" for folder in (ROOT, ROOT / "pgbouncer", ROOT / "bench")]:
        for args in re.findall(r"^(?:ARG|ENV)\s+(.+)$", path.read_text(), re.M):
            names |= set(re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]+)(?==|\s|$)", args))
    folders = (ROOT, ROOT / "pgbouncer", ROOT / "deploy", ROOT / "scripts", ROOT / ".ci")
    scripts = [path for folder in folders for path in folder.glob("*.sh")]
    for path in scripts:  # what the shell scripts read: ${NAME}, ${NAME:-...}
        names |= set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", path.read_text()))
    return names | set(re.findall(r"^# ([A-Z][A-Z0-9_]+)=", EXAMPLE, re.M))


def prose(text: str) -> str:
    """The text outside fenced code blocks."""
    return re.sub(r"^ *```.*?^ *```", "", text, flags=re.M | re.S)


def code_spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", prose(text))


def fenced_blocks(text: str) -> list[tuple[str, str]]:
    """(info string, body) of every fenced block, its indentation removed."""
    blocks = []
    for indent, info, body in re.findall(r"^( *)```(.*?)\n(.*?)^ *```", text, re.M | re.S):
        lines = [line.removeprefix(indent) for line in body.splitlines()]
        blocks.append((info.strip(), "\n".join(lines)))
    return blocks


def test_every_variable_is_documented() -> None:
    assert len(VARIABLES) > 15
    configuration = (ROOT / "docs" / "configuration.md").read_text()
    for name in VARIABLES | {f"{secret}_FILE" for secret in SECRETS}:
        assert f"# {name}=" in EXAMPLE, f"{name} missing from .env.example"
        assert f"`{name}`" in configuration, f"{name} missing from docs/configuration.md"


def test_env_example_lists_every_setting_and_compose_variable() -> None:
    listed = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", EXAMPLE, re.M))
    wanted = VARIABLES | {f"{secret}_FILE" for secret in SECRETS} | interpolated()
    missing = sorted(wanted - listed)
    assert not missing, f".env.example lacks {', '.join(missing)}"


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
    for path in paths:
        if path.startswith("web/api/sample") and not SAMPLE.exists():
            continue  # `make remove-sample` deleted it, as the table says it would
        assert list(ROOT.glob(path)), f"README names {path}, which does not exist"


def test_the_readme_is_short() -> None:
    size = len((ROOT / "README.md").read_bytes())
    assert size <= 8192, f"README.md is {size} bytes, over 8192: move the detail to docs/"


def test_every_make_target_named_exists() -> None:
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][a-z0-9-]*):", makefile, re.M))
    named = 0
    for doc in DOCS:
        text = doc.read_text()
        code = code_spans(text) + [body for _, body in fenced_blocks(text)]
        for snippet in code:
            for target in re.findall(r"(?:^|[\s(;&|])make ([a-z][a-z0-9-]*)", snippet, re.M):
                named += 1
                assert target in targets, f"{doc.name}: make {target} is not a Makefile target"
    assert named > 50


def test_every_variable_named_exists() -> None:
    """A name in capitals in backticks (`NAME` or `NAME=value`) is an environment variable
    that something reads or sets, or is listed above as something else."""
    known = VARIABLES | {f"{secret}_FILE" for secret in SECRETS} | set_in_files()
    known |= set(NOT_VARIABLES)
    for doc in DOCS:
        for span in code_spans(doc.read_text()):
            match = re.fullmatch(r"([A-Z][A-Z0-9_]+)(?:=\S*)?", span)
            if match and len(match[1]) > 1:
                name = match[1]
                assert name in known, f"{doc.name}: `{span}` is no variable of this project"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for heading in re.findall(r"^#{1,6} (.+)$", prose(path.read_text()), re.M):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def test_every_relative_link_and_anchor_resolves() -> None:
    checked = 0
    for doc in DOCS:
        for target in re.findall(r"\]\(([^)\s]+)\)", prose(doc.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file, _, anchor = target.partition("#")
            path = (doc.parent / file).resolve() if file else doc
            if not path.exists() and path.is_relative_to(SAMPLE) and not SAMPLE.exists():
                continue  # the sample's own documentation, gone with it
            assert path.exists(), f"{doc.name}: link to {target}, which does not exist"
            if anchor:
                assert anchor in anchors(path), f"{doc.name}: no heading for {target}"
            checked += 1
    assert checked > 40


def run_by_a_test() -> str:
    """The text of the test and CI files, whitespace collapsed."""
    texts = [
        path.read_text(errors="replace")
        for folder in RUN_BY
        for path in (ROOT / folder).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    ]
    return " ".join(" ".join(texts).split())


def commands(body: str) -> list[str]:
    """The command lines of a shell block: prompts, comments and continuations handled."""
    lines = []
    for raw in body.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#\s.*$", "", raw.removeprefix("$ ")).strip()
        if line and not line.startswith("#"):
            lines.append(" ".join(line.split()))
    return lines


def test_every_shell_command_is_run_by_a_test_or_illustrative() -> None:
    """A fenced sh/shell/console block is marked ```sh illustrative, or each of its command
    lines appears in tests/, e2e/, .ci/, harness/ or the CI workflow (as written, or as the
    argument list of a subprocess call)."""
    corpus = run_by_a_test()
    for doc in DOCS:
        for info, body in fenced_blocks(doc.read_text()):
            words = info.split()
            if not words or words[0] not in SHELL_BLOCKS or "illustrative" in words:
                continue
            for command in commands(body):
                as_list = ", ".join(f'"{word}"' for word in shlex.split(command))
                assert command in corpus or as_list in corpus, (
                    f"{doc.name}: `{command}` is run by no test or CI file: mark its block"
                    " ```sh illustrative, or run it"
                )
