"""make lint-migrations: render revisions to SQL and lint it with squawk (.squawk.toml).

    python -m web.ops.lint_migrations FILE...   lint these revision files
    python -m web.ops.lint_migrations --all     lint every revision

Each revision is rendered alone (`alembic upgrade <parent>:<rev> --sql`), with env.py's
lock_timeout: squawk sees what that step runs, and fails what blocks traffic or old code.
"""

import subprocess
import sys
import tempfile
from pathlib import Path

from web.base.paths import ALEMBIC_INI, ROOT, VERSIONS_DIR
from web.base.revisions import read_revision, scan_revisions


def render(revision: str, parents: tuple[str, ...]) -> str:
    target = f"{parents[0]}:{revision}" if parents else revision
    result = subprocess.run(
        ["alembic", "-c", str(ALEMBIC_INI), "upgrade", target, "--sql"],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"error: cannot render {revision}:\n{result.stderr}")
    return result.stdout


def main(args: list[str]) -> int:
    graph = scan_revisions(VERSIONS_DIR)
    if args == ["--all"]:
        revisions = list(graph)
    else:
        revisions = [read_revision(Path(arg))[0] for arg in args if arg.endswith(".py")]
    if not revisions:
        print("lint-migrations: no new revisions to lint")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        files = []
        for revision in revisions:
            sql = Path(folder) / f"{revision}.sql"
            sql.write_text(render(revision, graph[revision]))
            files.append(str(sql))
        print(f"lint-migrations: squawk on {', '.join(revisions)}")
        return subprocess.run(
            ["squawk", "--config", str(ROOT / ".squawk.toml"), *files], check=False
        ).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
