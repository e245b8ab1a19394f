"""make rehearse: apply the pending revisions to a database under steady traffic, and
report what each one did to that traffic and to its tables.

    python -m web.ops.rehearse [--rows N] [--known REV,REV... | --restored] [--prod-rows N]
                               [--max-wait-ms MS] [--max-failed N]

On DATABASE_URL's server (MIGRATION_DATABASE_URL when set), on a database nobody else
uses: `make rehearse` (scripts/rehearse.sh) gives it a throwaway compose project. By job:

    pending   which revisions to rehearse, in order
    catalog   the tables, from PostgreSQL's catalog: values planned per column, the fill
    traffic   per table, a reader and a writer on connections of their own (web/ops/traffic.py)
    sampler   pg_locks and pg_stat_activity while a revision runs, and what each of its
              transactions held and read, taken just before it commits
    report    one revision's summary, its table, the verdict
    cli       the arguments and the run

SQL traffic rather than HTTP: it needs no request bodies, works for any table, and measures
what a migration's locks do to queries; the app's own time per request comes on top.
"""

import sys


class RehearsalError(Exception):
    """Bad input or a database the rehearsal cannot work with: one line, exit 2."""


def say(message: str) -> None:
    """A progress line, on stderr: stdout is the report."""
    print(f"rehearse: {message}", file=sys.stderr, flush=True)
