"""Fill the app's tables as they stand, as the rehearsal fills its base: for a benchmark
or a local try.

    python -m web.ops.rehearse.fill [--rows N]
"""

import argparse
import sys
from contextlib import closing

import psycopg2

from web.base.config import ConfigError, load_settings
from web.ops.rehearse import RehearsalError
from web.ops.rehearse.catalog import fill, plan_values, read_tables


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fill", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per table (1000000)")
    args = parser.parse_args(argv)
    if args.rows < 1:
        parser.error("--rows: at least 1")
    try:
        settings = load_settings()
        kwargs = {**settings.migration_database.connect_kwargs(), **settings.connect_args()}
        with closing(psycopg2.connect(**kwargs, application_name="fill")) as connection:
            connection.autocommit = True  # fill() runs VACUUM
            fill(connection, plan_values(read_tables(connection)), args.rows)
    except (RehearsalError, ConfigError, psycopg2.OperationalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
