"""Operator tools, run by make in the tools container or with `python -m` in a deployed one:
backfill, rehearse, lint_migrations, remove_sample (make targets of the same names). They
use the app and the base, never the container's start-up code.
"""
