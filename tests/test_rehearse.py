"""make rehearse's driver (web/ops/rehearse/) against a real PostgreSQL, on a table of its
own: a blocking index build and a rewrite are flagged by what they do (however fast they ran
here), a concurrent build and a constant default pass, the same blocking work on an empty
table passes.

Each test runs the driver in a copy of the app whose history is the test's own: a revision
that creates the table (the base, "already deployed") and the one under rehearsal. The
size is REHEARSE_TEST_ROWS (`make test` and CI: 1,000,000; see docs/schema-changes.md, "The
rehearsal: make rehearse").
"""

import os
import re
from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.database import query
from harness.revisions import write_revision

pytestmark = pytest.mark.usefixtures("test_database")

ROWS = int(os.environ.get("REHEARSE_TEST_ROWS", "1000000"))

TABLE = """
op.execute(
    "CREATE TABLE rehearse_items (id bigserial PRIMARY KEY, name text NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now())"
)
"""


def rehearse(app: Path, database: str, upgrade: str, *args: str, base: str = TABLE):
    """The driver on `database`: `base` is the body of the revision already deployed (it
    makes the tables), `upgrade` the body of the pending one."""
    versions = app / "migrations" / "versions"
    for path in versions.glob("*.py"):
        path.unlink()  # a history of the test's own: no sample, none of yours
    write_revision(versions, "t_table", None, base)
    write_revision(versions, "t_change", "t_table", upgrade)
    result = run_in(
        app,
        "python",
        "-m",
        "web.ops.rehearse",
        "--known=t_table",
        f"--rows={ROWS}",
        *args,
        database=database,
    )
    print(result.stdout, result.stderr)
    return result


def table_row(output: str, table: str = "rehearse_items") -> dict[str, str]:
    """The report's cells for `table`, by column: "strongest lock", "rewritten", ..."""
    lines = output.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith(f"{table} "))
    header = next(line for line in reversed(lines[:at]) if line.strip().startswith("table "))
    cells = re.compile(r"\s{2,}")
    return dict(zip(cells.split(header.strip()), cells.split(lines[at].strip()), strict=True))


def test_a_plain_index_build_under_writes_is_flagged(fresh_database: str, app_copy: Path) -> None:
    """Flagged for its ShareLock held while the table's rows are read, at any speed; the
    pause keeps the lock long enough for the sampler to see the writes wait on any machine.
    The projection to ten times the rows is ten times the hold seen here."""
    blocking = """
    op.execute("CREATE INDEX ix_name ON rehearse_items (name)")
    op.execute("SELECT pg_sleep(0.3)")
    """
    result = rehearse(app_copy, fresh_database, blocking, f"--prod-rows={ROWS * 10}")
    assert result.returncode == 1, result.stdout + result.stderr
    cells = table_row(result.stdout)
    assert cells["strongest lock"] == "ShareLock"
    assert cells["read"] == "yes"
    assert cells["rewritten"] == "no"
    assert abs(float(cells["projected s"]) - 10 * float(cells["held s"])) < 0.11  # rounding
    assert f"ShareLock on rehearse_items held while its {ROWS:,} rows were read" in result.stdout
    assert f"about {cells['projected s']} s at {ROWS * 10:,} rows" in result.stdout
    assert "OVER BUDGET" in result.stdout
    assert "rehearse: write rehearse_items" in result.stdout  # seen waiting


def test_the_same_index_built_concurrently_passes(fresh_database: str, app_copy: Path) -> None:
    concurrently = """
    with op.get_context().autocommit_block():
        op.execute("CREATE INDEX CONCURRENTLY ix_name ON rehearse_items (name)")
    """
    result = rehearse(app_copy, fresh_database, concurrently)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "rehearse: within budget" in result.stdout
    cells = table_row(result.stdout)
    assert cells["strongest lock"] == "ShareUpdateExclusiveLock"
    assert cells["rewritten"] == "no"
    assert cells["failed"] == "0"


def test_a_volatile_default_rewrites_the_table_and_is_flagged(
    fresh_database: str, app_copy: Path
) -> None:
    volatile = 'op.execute("ALTER TABLE rehearse_items ADD COLUMN seen timestamptz DEFAULT clock_timestamp()")'
    result = rehearse(app_copy, fresh_database, volatile)
    assert result.returncode == 1, result.stdout + result.stderr
    cells = table_row(result.stdout)
    assert cells["strongest lock"] == "AccessExclusiveLock"
    assert cells["rewritten"] == "yes"
    assert f"rehearse_items rewritten: its {ROWS:,} rows copied under AccessExclusiveLock" in (
        result.stdout
    )
    assert "OVER BUDGET" in result.stdout


def test_a_constant_default_does_not_rewrite(fresh_database: str, app_copy: Path) -> None:
    """AccessExclusiveLock for a moment, no row read: it does not grow with the table."""
    constant = 'op.execute("ALTER TABLE rehearse_items ADD COLUMN seen boolean DEFAULT false")'
    result = rehearse(app_copy, fresh_database, constant, f"--prod-rows={ROWS * 10}")
    assert result.returncode == 0, result.stdout + result.stderr
    cells = table_row(result.stdout)
    assert cells["strongest lock"] == "AccessExclusiveLock"
    assert (cells["read"], cells["rewritten"], cells["projected s"]) == ("no", "no", "-")


def test_blocking_work_on_an_empty_table_passes(fresh_database: str, app_copy: Path) -> None:
    """A table the revision makes holds no rows: its index and its rewrite cost nothing."""
    new_table = """
    op.execute("CREATE TABLE rehearse_new (id bigserial PRIMARY KEY, name text NOT NULL)")
    op.execute("CREATE INDEX ix_new_name ON rehearse_new (name)")
    op.execute("ALTER TABLE rehearse_new ADD COLUMN seen timestamptz DEFAULT clock_timestamp()")
    """
    result = rehearse(app_copy, fresh_database, new_table, "--rows=1000")
    assert result.returncode == 0, result.stdout + result.stderr
    cells = table_row(result.stdout, "rehearse_new")
    assert cells["strongest lock"] == "AccessExclusiveLock"
    assert cells["rows"] == "0"
    assert "rehearse: within budget" in result.stdout


def test_nothing_pending_says_so(fresh_database: str, app_copy: Path) -> None:
    result = rehearse(app_copy, fresh_database, "pass", "--known=t_table,t_change")
    assert result.returncode == 0, result.stderr
    assert "nothing to rehearse" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--rows=0"], "--rows: at least 1"), (["--sample-ms=500"], "--sample-ms: between 1 and 100")],
)
def test_bad_input_is_one_clear_line(
    fresh_database: str, app_copy: Path, args: list[str], message: str
) -> None:
    result = rehearse(app_copy, fresh_database, "pass", *args)
    assert result.returncode == 2
    assert re.search(re.escape(message), result.stderr.strip().splitlines()[-1])


def test_fills_any_table_from_its_catalog(fresh_database: str, app_copy: Path) -> None:
    """Every common column type, a unique constraint, an enum and a foreign key: filled
    without code of the table's own, constraints intact, and traffic on both tables."""
    tables = """
    op.execute("CREATE TYPE rehearse_colour AS ENUM ('red', 'green')")
    op.execute(
        "CREATE TABLE rehearse_owners (key uuid PRIMARY KEY, code varchar(12) NOT NULL UNIQUE, "
        "colour rehearse_colour NOT NULL, born date NOT NULL, score numeric(6, 2) NOT NULL, "
        "small smallint NOT NULL, flag boolean NOT NULL, doc jsonb NOT NULL, raw bytea, "
        "tags text[] NOT NULL, pause interval, at time NOT NULL, stamp timestamp NOT NULL)"
    )
    op.execute(
        "CREATE TABLE rehearse_pets (id serial PRIMARY KEY, "
        "owner uuid NOT NULL REFERENCES rehearse_owners (key), name text NOT NULL)"
    )
    """
    result = rehearse(
        app_copy, fresh_database, 'op.execute("ANALYZE rehearse_pets")', "--rows=5000", base=tables
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for table in ("rehearse_owners", "rehearse_pets"):
        assert f"filled {table} with 5,000 rows" in result.stderr
        assert table_row(result.stdout, table)["failed"] == "0"  # traffic, none failed
    [(codes, owners)] = query(
        fresh_database,
        "SELECT (SELECT count(DISTINCT code) FROM rehearse_owners), "
        "(SELECT count(DISTINCT owner) FROM rehearse_pets WHERE id <= 5000)",
    )
    assert codes >= 5000  # the unique column: the fill's rows and traffic's, all distinct
    assert owners == 5000  # each filled pet references the owner of its own number


def test_a_failing_revision_is_reported_and_ends_the_rehearsal(
    fresh_database: str, app_copy: Path
) -> None:
    result = rehearse(app_copy, fresh_database, 'op.execute("SELECT 1 / 0")', "--rows=1000")
    assert result.returncode == 1
    assert "revision t_change: failed: " in result.stdout
    assert "division by zero" in result.stdout
    assert "OVER BUDGET: revision t_change failed" in result.stdout


def test_a_slow_deploy_time_revision_is_told_to_be_post_deploy_and_post_deploy_ones_run(
    fresh_database: str, app_copy: Path
) -> None:
    """Both kinds are rehearsed, deploy-time first; only the deploy-time one is judged
    against the start budget (shortened here)."""
    post_deploy = app_copy / "migrations" / "post_deploy"
    for path in post_deploy.glob("*.py"):
        path.unlink()
    write_revision(
        post_deploy, "t_post", None, 'op.execute("SELECT pg_sleep(0.6)")', needs="t_change"
    )
    slow = 'op.execute("SELECT pg_sleep(0.6)")'
    result = rehearse(app_copy, fresh_database, slow, "--rows=1000", "--start-budget=0.5")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "post-deploy, pending after the base (no revisions): t_post" in result.stderr
    assert re.search(r"revision t_post \(post-deploy\): applied in \d+\.\d\d s", result.stdout)
    [verdict] = [line for line in result.stdout.splitlines() if "OVER BUDGET" in line]
    assert re.search(r"revision t_change: took \d+\.\d s, over the 0.5 s start budget", verdict)
    assert "make it a post-deploy revision" in verdict
    assert "t_post" not in verdict


def test_an_enum_gaining_a_value_does_not_rewrite(fresh_database: str, app_copy: Path) -> None:
    """What the enum revisions render (ALTER TYPE ... ADD VALUE): the table keeps its file."""
    enum_table = """
    op.execute("CREATE TYPE rehearse_state AS ENUM ('new', 'done')")
    op.execute(
        "CREATE TABLE rehearse_jobs (id bigserial PRIMARY KEY, state rehearse_state NOT NULL)"
    )
    """
    add_value = "op.execute(\"ALTER TYPE rehearse_state ADD VALUE 'failed'\")"
    result = rehearse(app_copy, fresh_database, add_value, base=enum_table)
    assert result.returncode == 0, result.stdout + result.stderr
    assert table_row(result.stdout, "rehearse_jobs")["rewritten"] == "no"
