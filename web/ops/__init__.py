"""Operator tools, run by make in the tools container or by `python -m` in a deployed one:

    backfill         make backfill: a data migration, in batches, after the deploy
    rehearse         make rehearse: the pending revisions under traffic
    lint_migrations  make lint-migrations: squawk on each revision's SQL
    remove_sample    make remove-sample

They use the app and the base, never the container's start-up code.
"""
