"""make lint-migrations: squawk passes the committed revisions and fails the dangerous ones."""

import os
import subprocess
import sys
from pathlib import Path

from harness.revisions import write_revision
from web.base.revisions import code_revisions

HEAD = (code_revisions()[1] or (None,))[0]


def lint(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.ops.lint_migrations", *args],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(app)},
    )


def test_committed_revisions_pass(app_copy: Path) -> None:
    write_revision(  # so that there is at least one revision to lint
        app_copy / "migrations" / "versions",
        "t_safe",
        HEAD,
        'op.add_column("lint_ok", sa.Column("note", sa.Text(), nullable=True))',
    )
    result = lint(app_copy, "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 0 issues" in result.stdout


def test_blocking_and_breaking_operations_fail(app_copy: Path) -> None:
    versions = app_copy / "migrations" / "versions"
    write_revision(
        versions,
        "t_table",
        HEAD,
        'op.create_table("lint_probe", sa.Column("id", sa.Integer, primary_key=True), '
        'sa.Column("title", sa.String(10)), sa.Column("old", sa.Text()))',
    )
    revision = write_revision(
        versions,
        "dangerous",
        "t_table",
        """
        op.create_index("ix_lint_probe_title", "lint_probe", ["title"])
        op.add_column("lint_probe", sa.Column("owner", sa.Text(), nullable=False))
        op.alter_column("lint_probe", "title", type_=sa.Text())
        op.drop_column("lint_probe", "old")
        """,
    )
    result = lint(app_copy, str(revision))
    assert result.returncode != 0
    for rule in (
        "require-concurrent-index-creation",
        "adding-required-field",
        "changing-column-type",
        "ban-drop-column",
    ):
        assert rule in result.stdout, rule
