"""Operator tools, run by make in the tools container or with `python -m` in a deployed one:
backfill, rehearse, compat (make compat's checks), lint_migrations, remove_sample (make
targets of the same names), and what they share with the harness: traffic (the one traffic
generator) and waiting (the one readiness wait), standard library only, since e2e runs them
on the host. They use the app and the base, never the container's start-up code.
"""
