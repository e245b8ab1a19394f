"""Operator tools, run by make in the tools container or with `python -m` in a deployed one:
backfill, rehearse, compat (make compat's checks), lint_migrations, remove_sample (make
targets of the same names), and what they share with the harness: traffic (the one traffic
generator) and waiting (the one readiness wait), standard library only, since e2e runs them
on the host; and, on the host (python3, standard library only), driving Docker: upgrade
(make upgrade), post_migrate (make post-migrate, make deploy's last step) and orchestrator
(what those two read from Docker). They use the app and the base, never the container's
start-up code.
"""
