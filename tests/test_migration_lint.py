"""make lint-migrations: squawk passes the committed revisions and fails the dangerous ones."""

import os
import subprocess
import sys
from pathlib import Path

from tests.test_migrations import add_revision, copy_of_the_app
from web.schema_version import code_revisions


def lint(app: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "migrations/lint.py", *args],
        cwd=app,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "PYTHONPATH": str(app)},
    )


def test_committed_revisions_pass(tmp_path: Path) -> None:
    result = lint(copy_of_the_app(tmp_path), "--all")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Found 0 issues" in result.stdout


def test_blocking_and_breaking_operations_fail(tmp_path: Path) -> None:
    app = copy_of_the_app(tmp_path)
    head = code_revisions()[1][0]
    add_revision(
        app,
        "dangerous",
        head,
        "\n    ".join(
            [
                'op.create_index("ix_tasks_title", "tasks", ["title"])',
                'op.add_column("projects", sa.Column("owner", sa.Text(), nullable=False))',
                'op.alter_column("tasks", "title", type_=sa.Text())',
                'op.drop_column("projects", "description")',
            ]
        ),
    )
    revision = app / "migrations" / "versions" / "2099_01_01_0000-dangerous_test.py"
    revision.write_text("import sqlalchemy as sa\n" + revision.read_text())
    result = lint(app, str(revision))
    assert result.returncode != 0
    for rule in (
        "require-concurrent-index-creation",
        "adding-required-field",
        "changing-column-type",
        "ban-drop-column",
    ):
        assert rule in result.stdout, rule
