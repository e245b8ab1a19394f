"""Operator tools, run by make in the tools container or by `python -m` in a deployed one:

    backfill         make backfill: a data migration, in batches, after the deploy
    rehearse         make rehearse: the pending revisions under traffic
    compat           make compat's checks of the old code (scripts/compat.sh drives them)
    lint_migrations  make lint-migrations: squawk on each revision's SQL
    remove_sample    make remove-sample

and what they share with the harness (standard library, Python 3.11+: e2e runs them on the
host): traffic, the one traffic generator, and waiting, the one readiness wait; and, on the
host (python3, standard library only), driving Docker:

    upgrade          make upgrade: one host, the new release with no gap
    post_migrate     make post-migrate, make deploy: post-deploy revisions after the rollout
    orchestrator     what those two read from Docker

They use the app and the base, never the container's start-up code.
"""
