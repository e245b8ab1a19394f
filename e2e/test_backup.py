"""make backup / make restore on the real stack: a round trip through `down -v`, and the
files restore refuses (truncated, foreign) while changing nothing."""

import os
import subprocess
from pathlib import Path

import requests

from harness.compose import BASE, PORT, PROJECT, ROOT, Stack, create_item, item_names, run_make


def make(*args: str) -> subprocess.CompletedProcess:
    return run_make(
        *args, env={**os.environ, "COMPOSE_PROJECT_NAME": PROJECT, "WEB_PORT": str(PORT)}
    )


def test_backup_down_v_restore_round_trip_and_bad_files_change_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    stack.fresh()
    written = [create_item(f"kept {i}")["name"] for i in range(130)]  # more than one page

    backup = make("backup")
    assert backup.returncode == 0, backup.stderr
    dump = ROOT / backup.stdout.strip().splitlines()[-1]
    try:
        assert dump.read_bytes()[:5] == b"PGDMP"
        assert dump.stat().st_uid == os.getuid()
        assert (
            subprocess.run(
                ["git", "check-ignore", "-q", str(dump)], cwd=ROOT, check=False
            ).returncode
            == 0
        )

        refused = make("restore", f"file={dump}")
        assert refused.returncode != 0
        assert "error: the database holds data; to replace it" in refused.stderr

        stack.down(volumes=True)
        stack.up()
        assert item_names() == []
        restored = make("restore", f"file={dump}")
        assert restored.returncode == 0, restored.stderr
        stack.wait_ready()
        assert item_names() == written
        # The sequence came back too: a new item takes the next id, not a used one.
        assert create_item("after the restore")["id"] == len(written) + 1
        assert requests.get(f"{BASE}/readyz", timeout=5).status_code == 200

        truncated = tmp_path / "truncated.dump"
        truncated.write_bytes(dump.read_bytes()[: dump.stat().st_size * 2 // 3])
        foreign = tmp_path / "foreign.dump"
        foreign.write_text("not a database dump\n")
        other_app = tmp_path / "other.dump"
        other_app.write_bytes(
            subprocess.run(
                [
                    *stack.base,
                    "exec",
                    "-T",
                    "db",
                    "pg_dump",
                    "-U",
                    "postgres",
                    "-d",
                    "postgres",
                    "--format",
                    "custom",
                ],
                env=stack.env,
                capture_output=True,
                timeout=60,
                check=True,
            ).stdout
        )
        for bad, message in (
            (truncated, "pg_restore: error"),
            (foreign, "is not a pg_dump custom-format archive"),
            (other_app, "is not a backup of this app"),
        ):
            result = make("restore", f"file={bad}", "force=1")
            assert result.returncode != 0, bad
            assert message in result.stderr
            assert item_names() == [*written, "after the restore"]
    finally:
        dump.unlink(missing_ok=True)
