"""Which Alembic revisions the code has, which ones a database is at, and the names tools share.

The files are read with a regular expression, not Alembic, because the start-up step asks
on every start; a file the scan cannot read falls back to Alembic (slower, never wrong).

    python -m web.base.revisions FOLDER    prints the revision ids of FOLDER, one a line
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from functools import cache
from pathlib import Path

from web.base.paths import ALEMBIC_INI, VERSIONS_DIR

# The PostgreSQL advisory lock that serialises `alembic upgrade` runs (migrations/env.py),
# deploy-time and post-deploy alike.
MIGRATION_LOCK_KEY = 0x466C_61736B_4D67  # "FlaskMg"; any fixed 64-bit number would do
# The two Alembic environments: alembic.ini's sections, and the tables of their versions.
# Deploy-time revisions run on start (`alembic upgrade head`); post-deploy ones after the
# rollout (`alembic -n post upgrade head`: make post-migrate, make deploy).
VERSION_TABLE = "alembic_version"
POST_SECTION = "post"
POST_VERSION_TABLE = "alembic_version_post"
# What a post-deploy revision names: the deploy-time revision it needs applied first.
NEEDS = "needs_deploy_revision"
# The table `make backfill` keeps its checkpoints in; autogenerate leaves it alone.
BACKFILL_CHECKPOINTS = "backfill_checkpoints"
# Which revision revises which, as every release that migrated the database knew it
# (migrations/env.py adds its edges before migrating), so that an older release can tell a
# database ahead of it from one on another branch. Autogenerate leaves it alone too.
REVISION_GRAPH = "alembic_revision_graph"

# Where a database stands against the code (compare()).
AT_HEAD, BEHIND, AHEAD, ELSEWHERE = "at head", "behind", "ahead", "elsewhere"

_REVISION = re.compile(r"^revision(?:\s*:[^=]+)?\s*=\s*['\"](\w+)['\"]\s*$", re.M)
_DOWN_REVISION = re.compile(r"^down_revision(?:\s*:[^=]+)?\s*=\s*(.+)$", re.M)
_QUOTED = re.compile(r"['\"](\w+)['\"]")
_DOWN_LITERAL = re.compile(
    r"^(None|['\"]\w+['\"]|\(\s*(['\"]\w+['\"]\s*,\s*)+(['\"]\w+['\"])?\s*\))$"
)


class UnreadableRevision(Exception):
    """A revision file is not in a shape the fast scan understands."""


def parse_revision(text: str, name: str = "") -> tuple[str, tuple[str, ...]]:
    """(a revision file's revision id, the ids it revises), from its text."""
    revision = _REVISION.findall(text)
    down = _DOWN_REVISION.findall(text)
    if len(revision) != 1 or len(down) != 1 or not _DOWN_LITERAL.match(down[0].strip()):
        raise UnreadableRevision(name)
    return revision[0], tuple(_QUOTED.findall(down[0]))


def read_revision(path: Path) -> tuple[str, tuple[str, ...]]:
    """(the file's revision id, the ids it revises)."""
    return parse_revision(path.read_text(encoding="utf-8"), path.name)


def scan_revisions(versions_dir: Path = VERSIONS_DIR) -> dict[str, tuple[str, ...]]:
    """Map each revision id to the ids it revises, read straight from the files."""
    return dict(read_revision(path) for path in sorted(versions_dir.glob("*.py")))


def heads_of(graph: dict[str, tuple[str, ...]]) -> list[str]:
    revised = {parent for parents in graph.values() for parent in parents}
    return sorted(rev for rev in graph if rev not in revised)


def _alembic_graph(versions_dir: Path) -> dict[str, tuple[str, ...]]:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import to_tuple

    config = Config(str(ALEMBIC_INI))
    config.set_main_option("script_location", str(versions_dir.parent))
    config.set_main_option("version_locations", str(versions_dir))
    script = ScriptDirectory.from_config(config)
    return {rev.revision: to_tuple(rev.down_revision, ()) for rev in script.walk_revisions()}


def _alembic_revisions(versions_dir: Path) -> tuple[set[str], list[str]]:
    graph = _alembic_graph(versions_dir)
    return set(graph), heads_of(graph)


@cache
def code_graph(versions_dir: Path = VERSIONS_DIR) -> dict[str, tuple[str, ...]]:
    """The code's revisions in `versions_dir`, each mapped to those it revises (a missing
    folder has none: an image from before post-deploy revisions)."""
    try:
        return scan_revisions(versions_dir)
    except UnreadableRevision:
        return _alembic_graph(versions_dir)


def code_revisions(versions_dir: Path = VERSIONS_DIR) -> tuple[frozenset[str], tuple[str, ...]]:
    """(every revision id the code knows, its heads)."""
    graph = code_graph(versions_dir)
    return frozenset(graph), tuple(heads_of(graph))


def applied(graph: dict[str, tuple[str, ...]], current: tuple[str, ...]) -> set[str]:
    """The revisions of `graph` that a database at `current` has: those and their ancestors."""
    done: set[str] = set()
    stack = [revision for revision in current if revision in graph]
    while stack:
        revision = stack.pop()
        if revision not in done:
            done.add(revision)
            stack.extend(graph.get(revision, ()))
    return done


def pending(graph: dict[str, tuple[str, ...]], current: tuple[str, ...]) -> list[str]:
    """The revisions of `graph` a database at `current` still lacks (none when it is at a
    revision the graph does not know: it is ahead of this code)."""
    if any(revision not in graph for revision in current):
        return []
    return sorted(set(graph) - applied(graph, current))


def database_revisions(
    query: Callable[[str], list[tuple]], table: str = VERSION_TABLE
) -> tuple[str, ...]:
    """The revisions stamped in a database's `table` (empty when it was never migrated).

    `query` runs one SQL statement and returns its rows, so that the entrypoint can
    use a bare psycopg2 cursor and the app a SQLAlchemy connection.
    """
    if table not in (VERSION_TABLE, POST_VERSION_TABLE):
        raise ValueError(f"not a version table: {table}")
    if not query(f"SELECT to_regclass('{table}') IS NOT NULL")[0][0]:
        return ()
    return tuple(row[0] for row in query(f"SELECT version_num FROM {table} ORDER BY 1"))  # noqa: S608 (one of two names)


def compare(
    current: tuple[str, ...],
    known: frozenset[str],
    heads: tuple[str, ...],
    query: Callable[[str], list[tuple]],
) -> str:
    """Where a database at `current` stands against code with `known` revisions and `heads`.

    AT_HEAD; BEHIND (empty, or at revisions the code knows: it migrates); AHEAD (a newer
    release migrated it past every head of this code: this code serves without migrating);
    ELSEWHERE (a revision this code does not know, not recorded as descending from its head:
    another branch, or migrated by a release that kept no graph).
    """
    if current == heads:
        return AT_HEAD
    if all(revision in known for revision in current):
        return BEHIND
    if heads and set(heads) <= ancestors(current, query):
        return AHEAD
    return ELSEWHERE


def standing(query: Callable[[str], list[tuple]]) -> tuple[tuple[str, ...], str]:
    """(the database's revisions, where they stand against this code's: compare())."""
    known, heads = code_revisions()
    current = database_revisions(query)
    return current, compare(current, known, heads, query)


def ancestors(revisions: tuple[str, ...], query: Callable[[str], list[tuple]]) -> set[str]:
    """Every revision that `revisions` descend from, by the database's REVISION_GRAPH."""
    if not query(f"SELECT to_regclass('{REVISION_GRAPH}') IS NOT NULL")[0][0]:
        return set()
    parents: dict[str, list[str]] = {}
    edges = query(f"SELECT revision, down_revision FROM {REVISION_GRAPH}")  # noqa: S608 (a constant)
    for revision, down in edges:
        parents.setdefault(revision, []).append(down)
    found: set[str] = set()
    todo = list(revisions)
    while todo:
        for parent in parents.get(todo.pop(), ()):
            if parent not in found:
                found.add(parent)
                todo.append(parent)
    return found


def main(argv: list[str]) -> int:
    """Print the revision ids of a folder of revision files (for shell scripts)."""
    if len(argv) != 1 or not Path(argv[0]).is_dir():
        print("usage: python -m web.base.revisions FOLDER", file=sys.stderr)
        return 2
    for revision in sorted(code_revisions(Path(argv[0]))[0]):
        print(revision)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
