"""Helpers shared by every suite (tests/, e2e/, bench/): standard library only, Python 3.11+.

write_revision()  a test-only Alembic revision file
wait_until()      poll a condition until a deadline
wrk_summary()     the figures of a wrk run's output
"""

import re
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

# Old-style generics: e2e/ runs this on the host's Python, which may predate 3.12.
T = TypeVar("T")


def write_revision(
    folder: Path,
    revision: str,
    down_revision: str | None,
    upgrade: str = "pass",
    downgrade: str = "pass",
) -> Path:
    """Write revision `revision` after `down_revision` (None: a first revision) into `folder`.

    `upgrade` and `downgrade` are function bodies; `op` and `sa` are imported. The file
    name sorts after every real revision and is readable by a container's user.
    """
    path = Path(folder) / f"2099_01_01_0000-{revision}_test.py"
    path.write_text(
        f'"""Test-only revision {revision}."""\n\n'
        "import sqlalchemy as sa\nfrom alembic import op\n\n"
        f"revision = {revision!r}\ndown_revision = {down_revision!r}\n"
        "branch_labels = None\ndepends_on = None\n\n\n"
        f"def upgrade():\n{textwrap.indent(textwrap.dedent(upgrade).strip(), '    ')}\n\n\n"
        f"def downgrade():\n{textwrap.indent(textwrap.dedent(downgrade).strip(), '    ')}\n"
    )
    path.chmod(0o644)
    return path


def wait_until(  # noqa: UP047
    condition: Callable[[], T], what: str, timeout: float = 30, interval: float = 0.1
) -> T:
    """The first truthy value of `condition()`; fails with `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:g}s")
        time.sleep(interval)


# The probe resource (tests/probe_resource.py): its file, and the revision of its table.
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


def wrk_summary(output: str) -> dict[str, float | int | str]:
    """Requests/s, p50 and p99 in ms, requests, non-2xx responses and socket errors
    (wrk's line, "" when none) from the output of `wrk --latency`."""

    def latency(percentile: str) -> float:
        pattern = rf"^\s+{percentile}\s+([\d.]+)(us|ms|s)\s*$"
        value, unit = re.search(pattern, output, re.M).groups()
        return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    socket_errors = re.search(r"Socket errors: (.*)", output)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "p50": latency("50%"),
        "p99": latency("99%"),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": socket_errors.group(1).strip() if socket_errors else "",
    }
