"""Test-only Alembic revisions, and the probe resource's (standard library, Python 3.11+)."""

import textwrap
from pathlib import Path


def write_revision(
    folder: Path,
    revision: str,
    down_revision: str | None,
    upgrade: str = "pass",
    downgrade: str = "pass",
    *,
    needs: str | None = None,
) -> Path:
    """Write revision `revision` after `down_revision` (None: a first revision) into `folder`.

    `upgrade` and `downgrade` are function bodies; `op` and `sa` are imported. `needs`: a
    post-deploy revision's deploy-time revision. The file name sorts after every real
    revision and is readable by a container's user.
    """
    path = Path(folder) / f"2099_01_01_0000-{revision}_test.py"
    path.write_text(
        f'"""Test-only revision {revision}."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\n"
        "branch_labels = None\ndepends_on = None\n"
        + (f"needs_deploy_revision = {needs!r}\n" if needs else "")
        + "\n\n"
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade).strip(), '    ')}\n\n\n"
        f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade).strip(), '    ')}\n"
    )
    path.chmod(0o644)
    return path


# The probe resource (harness/probe_resource.py): its file, and the revision of its table.
PROBE_MODULE = Path(__file__).with_name("probe_resource.py")
PROBE_REVISION = "probe0001"
PROBE_TABLE = """
op.execute(
    "CREATE TABLE probe_items (id serial PRIMARY KEY, name varchar(100) NOT NULL, "
    "created_at timestamptz NOT NULL DEFAULT now(), "
    "CONSTRAINT uq_probe_items_name UNIQUE (name))"
)
"""


def write_probe_revision(folder: Path, head: str | None) -> Path:
    """The probe table's revision, on top of the code's head, in `folder`."""
    return write_revision(folder, PROBE_REVISION, head, PROBE_TABLE, 'op.drop_table("probe_items")')
