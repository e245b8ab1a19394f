"""The fast revision scan agrees with Alembic, on the real tree and on branched ones."""

import shutil
from pathlib import Path

import pytest

from web.base.paths import VERSIONS_DIR
from web.base.revisions import (
    AHEAD,
    AT_HEAD,
    BEHIND,
    ELSEWHERE,
    UnreadableRevision,
    _alembic_revisions,
    code_revisions,
    compare,
    heads_of,
    scan_revisions,
)


def test_scan_matches_alembic_on_the_real_migrations() -> None:
    graph = scan_revisions()
    known, heads = _alembic_revisions(VERSIONS_DIR)
    assert set(graph) == known
    assert heads_of(graph) == heads


def test_the_migrations_have_one_head_at_most() -> None:
    """Two heads are two branches to merge (`alembic merge`); none is an empty history."""
    assert len(code_revisions()[1]) <= 1


def write(path: Path, revision: str, down: str) -> None:
    path.write_text(
        f'"""r"""\nfrom collections.abc import Sequence\n\nrevision: str = "{revision}"\n'
        f"down_revision: str | Sequence[str] | None = {down}\n"
        "branch_labels = None\ndepends_on = None\n\n\ndef upgrade() -> None:\n    pass\n\n\n"
        "def downgrade() -> None:\n    pass\n"
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    versions = tmp_path / "migrations" / "versions"
    versions.mkdir(parents=True)
    shutil.copy(VERSIONS_DIR.parent / "script.py.mako", versions.parent)
    write(versions / "a.py", "aaa", "None")
    write(versions / "b.py", "bbb", '"aaa"')
    write(versions / "c.py", "ccc", "'aaa'")
    return versions


def test_scan_matches_alembic_with_branches_and_merges(tree: Path) -> None:
    assert heads_of(scan_revisions(tree)) == _alembic_revisions(tree)[1] == ["bbb", "ccc"]
    write(tree / "d.py", "ddd", '("bbb", "ccc")')
    assert heads_of(scan_revisions(tree)) == _alembic_revisions(tree)[1] == ["ddd"]


def test_unusual_files_fall_back_to_alembic(tree: Path) -> None:
    (tree / "e.py").write_text(
        'revision = "eee"\ndown_revision = compute()\n\n\ndef compute():\n    return "bbb"\n'
    )
    with pytest.raises(UnreadableRevision):
        scan_revisions(tree)
    (tree / "e.py").write_text(
        'PARENT = "bbb"\nrevision = "eee"\ndown_revision = PARENT\nbranch_labels = None\ndepends_on = None\n'
    )
    with pytest.raises(UnreadableRevision):
        scan_revisions(tree)
    assert code_revisions(tree) == (frozenset({"aaa", "bbb", "ccc", "eee"}), ("ccc", "eee"))


def graph_query(edges: list[tuple[str, str]] | None):
    """A query function answering compare()'s questions from `edges` (None: no graph table)."""

    def query(sql: str) -> list[tuple]:
        if sql.startswith("SELECT to_regclass"):
            return [(edges is not None,)]
        return list(edges or [])

    return query


KNOWN = frozenset({"a1", "a2"})
GRAPH = [("a2", "a1"), ("b3", "a2"), ("b4", "b3"), ("x3", "a1")]


@pytest.mark.parametrize(
    ("current", "edges", "expected"),
    [
        (("a2",), GRAPH, AT_HEAD),
        ((), None, BEHIND),
        (("a1",), GRAPH, BEHIND),
        (("b4",), GRAPH, AHEAD),  # a newer release's two revisions on top of a2
        (("x3",), GRAPH, ELSEWHERE),  # another branch from a1: a2 is not below it
        (("zz",), GRAPH, ELSEWHERE),  # not in the graph at all
        (("b4",), None, ELSEWHERE),  # migrated by a release that kept no graph
    ],
    ids=["head", "empty", "behind", "ahead", "other-branch", "unrecorded", "no-graph"],
)
def test_compare_tells_ahead_from_another_branch(
    current: tuple[str, ...], edges: list | None, expected: str
) -> None:
    assert compare(current, KNOWN, ("a2",), graph_query(edges)) == expected
