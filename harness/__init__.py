"""The test and benchmark harness: what tests/, e2e/ and bench/ share.

    revisions      test-only revision files, the probe resource's
    waiting        wait_until(), answers(), wait_ready() (from web/ops/waiting.py)
    wrk            the figures of a wrk run
    database       the test server: databases made and dropped for the suite (psycopg2)
    appcopy        a copy of the app to add revisions to, and commands run in it
    compose        a compose project driven from the host (e2e, bench)
    swarm          a single-node swarm running deploy/stack.yml
    on_stack       what swarm runs in a container on the stack's network: traffic, readiness
    gitrepo        git repositories of the tests' own, and a fresh copy of this checkout
    browser        the API page in Chromium (runs in the image's `browser` stage only)

It may import the project (web); no test module and no conftest imports another, they
import this. Modules used on the host (e2e, bench) need only the standard library and
requests (the e2e venv's).
"""
