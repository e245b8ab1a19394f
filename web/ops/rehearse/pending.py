"""Which revisions to rehearse: those after a restored backup's, or those a base git ref
does not have, each after the ones it builds on; deploy-time or post-deploy (`table`)."""

from __future__ import annotations

import re
from collections.abc import Callable

from web.base.revisions import VERSION_TABLE, applied, database_revisions, scan_revisions
from web.ops.rehearse import RehearsalError

Graph = dict[str, tuple[str, ...]]  # revision -> the revisions it builds on


def in_order(graph: Graph, revisions: set[str]) -> list[str]:
    """`revisions`, each after the ones it builds on (ties: file name order)."""
    ordered: list[str] = []
    done: set[str] = set()
    while len(ordered) < len(revisions):
        ready = [
            revision
            for revision in graph
            if revision in revisions
            and revision not in done
            and all(parent in done or parent not in revisions for parent in graph[revision])
        ]
        ordered.append(ready[0])
        done.add(ready[0])
    return ordered


def base_heads(graph: Graph, known: set[str]) -> list[str]:
    """The heads of the revisions the base already had: what the database is at before."""
    have = {revision for revision in graph if revision in known}
    built_on = {parent for revision in have for parent in graph[revision]}
    return sorted(have - built_on)


def pending_revisions(
    known: str | None,
    query: Callable[[str], list[tuple]],
    graph: Graph | None = None,
    table: str = VERSION_TABLE,
) -> tuple[list[str], list[str], str]:
    """(the heads the database starts at, the revisions to rehearse in order, a description
    of the start). `known`: the base's revision ids, comma-separated; None: the database
    holds a restored backup, read through `query` from `table` (a backup without the
    post-deploy table has none applied)."""
    graph = scan_revisions() if graph is None else graph
    if known is None:
        if (
            table == VERSION_TABLE
            and not query("SELECT to_regclass('alembic_version') IS NOT NULL")[0][0]
        ):
            raise RehearsalError("the restored database has no alembic_version table")
        heads = list(database_revisions(query, table))
        unknown = [head for head in heads if head not in graph]
        if unknown:
            raise RehearsalError(
                f"the backup is at revision {', '.join(unknown)}, which this code does not know"
            )
        where = f"the backup's revision ({', '.join(heads) or 'empty'})"
    else:
        heads = base_heads(graph, {rev for rev in re.split(r"[\s,]+", known) if rev})
        where = f"the base ({', '.join(heads) or 'no revisions'})"
    return heads, in_order(graph, set(graph) - applied(graph, tuple(heads))), where
