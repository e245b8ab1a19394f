"""The rehearsal's arguments and its run: the "before" database, the traffic and the sampler
started, each pending revision applied on its own (alembic upgrade <rev>, through
migrations/env.py as on a deploy), the deploy-time ones and then the post-deploy ones
(`alembic -n post`), a report each, the verdict. Exit 1 over budget, 2 on bad input."""

from __future__ import annotations

import argparse
import sys
import time
from contextlib import closing

import psycopg2
from alembic import command
from alembic.config import Config

from web.app.db import migration_engine
from web.base.config import ConfigError, DatabaseURL, load_settings
from web.base.paths import ALEMBIC_INI, POST_DEPLOY_DIR
from web.base.revisions import POST_SECTION, POST_VERSION_TABLE, scan_revisions
from web.ops.rehearse import RehearsalError, say
from web.ops.rehearse.catalog import fill, plan_values, read_tables, table_states
from web.ops.rehearse.pending import pending_revisions
from web.ops.rehearse.report import Budget, RevisionReport, render, summarise, verdict
from web.ops.rehearse.sampler import MIGRATION_APP, Footprints, Sampler
from web.ops.rehearse.traffic import sql_traffic
from web.ops.traffic import Traffic


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="rehearse",
        description="apply the pending revisions under steady traffic and report what each did",
    )
    base = parser.add_mutually_exclusive_group(required=True)
    base.add_argument("--known", help="the base's revision ids, comma-separated ('' for none)")
    base.add_argument("--restored", action="store_true", help="the database holds a backup")
    parser.add_argument(
        "--known-post", default="", help="with --known: the base's post-deploy revision ids"
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (1000000)")
    parser.add_argument(
        "--prod-rows", type=int, help="production's rows per table: each lock's hold projected"
    )
    parser.add_argument(
        "--max-wait-ms", type=int, default=1000, help="budget: longest request (1000)"
    )
    parser.add_argument("--max-failed", type=int, default=0, help="budget: failed requests (0)")
    parser.add_argument(
        "--start-budget",
        type=float,
        default=10.0,
        help="budget: seconds a deploy-time revision may take on start (10)",
    )
    parser.add_argument("--rate", type=float, default=20, help="requests a second per thread (20)")
    parser.add_argument(
        "--sample-ms", type=int, default=50, help="sampling interval, at most 100 (50)"
    )
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds of traffic before each revision (2)"
    )
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows: at least 1")
    if args.prod_rows is not None and args.prod_rows < 1:
        parser.error("--prod-rows: at least 1")
    if not 1 <= args.sample_ms <= 100:
        parser.error("--sample-ms: between 1 and 100")
    if (
        args.max_wait_ms < 1
        or args.max_failed < 0
        or args.rate <= 0
        or args.settle <= 0
        or args.start_budget <= 0
    ):
        parser.error(
            "--max-wait-ms, --rate, --settle and --start-budget must be positive, "
            "--max-failed not negative"
        )
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    try:
        return rehearse(args)
    except (RehearsalError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def apply_each(
    pending: list[tuple[Config, str]],
    *,
    control,
    traffic: Traffic,
    sampler: Sampler,
    footprints: Footprints,
    args: argparse.Namespace,
) -> list[RevisionReport]:
    """Each revision in turn, under the running traffic: a report each; stops at a failure."""
    reports = []
    interval = args.sample_ms / 1000
    time.sleep(args.settle)  # the first "before" window
    for config, revision in pending:
        states_before = table_states(control)
        seen = len(footprints.seen)
        start = time.monotonic()
        error = None
        try:
            command.upgrade(config, revision)
        except (Exception, SystemExit) as exc:  # it failed: report it, stop there
            error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
        end = time.monotonic()
        states_after = table_states(control)
        time.sleep(max(interval * 2, min(args.settle, 1.0)))  # requests that waited, finish
        reports.append(
            summarise(
                revision,
                error,
                window=(start - args.settle, start, end),
                states=(states_before, states_after),
                footprints=footprints.seen[seen:],
                requests=list(traffic.requests),
                samples=sampler.between(start, end + interval),
                interval=interval,
                max_wait=args.max_wait_ms / 1000,
                kind="post-deploy" if config.config_ini_section == POST_SECTION else "deploy-time",
            )
        )
        if error:
            break
        time.sleep(args.settle)  # the next revision's "before" window
    return reports


def rehearse(args: argparse.Namespace) -> int:
    settings = load_settings()

    def connect(application_name: str, role: DatabaseURL = settings.migration_database):
        """The owner's connection (set-up, fill, sampler), or `role`'s."""
        return psycopg2.connect(
            **role.connect_kwargs(), **settings.connect_args(), application_name=application_name
        )

    def as_runtime(application_name: str):
        """Traffic logs in as the app's requests do (DATABASE_URL's role)."""
        return connect(application_name, settings.database)

    def query(statement: str) -> list[tuple]:
        with control.cursor() as cursor:
            cursor.execute(statement)
            return cursor.fetchall() if cursor.description else []

    control = connect("rehearse: control")
    control.autocommit = True
    with closing(control):
        heads, pending, where = pending_revisions(None if args.restored else args.known, query)
        post_heads, post_pending, post_where = pending_revisions(
            None if args.restored else args.known_post,
            query,
            scan_revisions(POST_DEPLOY_DIR),
            POST_VERSION_TABLE,
        )
        if not pending and not post_pending:
            say(f"nothing to rehearse: no revision after {where}")
            return 0
        say(f"pending after {where}: {', '.join(pending) or 'none'}")
        if post_pending:
            say(f"post-deploy, pending after {post_where}: {', '.join(post_pending)}")
        # migrations/env.py migrates on a connection of this engine (Alembic's
        # connection-sharing recipe), named so that the sampler finds its locks.
        engine = migration_engine(settings, application_name=MIGRATION_APP)
        config, post = Config(str(ALEMBIC_INI)), Config(str(ALEMBIC_INI), ini_section=POST_SECTION)
        config.attributes["connection"] = post.attributes["connection"] = engine
        if args.restored:
            query("ANALYZE")  # pg_restore leaves the planner without statistics
        else:
            for each, head in [(config, head) for head in heads] + [(post, h) for h in post_heads]:
                command.upgrade(each, head)
            fill(control, plan_values(read_tables(control)), args.rows)
        footprints = Footprints(engine)  # after the base: only the pending revisions' own
        tables = plan_values(read_tables(control))
        if not tables:
            say("no tables before the first pending revision: traffic has nothing to touch")
        # A request blocked longer than the budget is cut off (and counted) a second later.
        timeout_ms = args.max_wait_ms + 1000
        with (
            closing(connect("rehearse: sampler")) as sampling,
            sql_traffic(as_runtime, control, tables, args.rate, timeout_ms) as traffic,
            Sampler(sampling, args.sample_ms / 1000) as sampler,
        ):
            reports = apply_each(
                [(config, rev) for rev in pending] + [(post, rev) for rev in post_pending],
                control=control,
                traffic=traffic,
                sampler=sampler,
                footprints=footprints,
                args=args,
            )
        engine.dispose()
    budget = Budget(args.max_wait_ms / 1000, args.max_failed, args.prod_rows, args.start_budget)
    print()
    for report in reports:
        print(render(report, budget))
        print()
    status, line = verdict(reports, len(traffic.requests), budget)
    print(line)
    return status
