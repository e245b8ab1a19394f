"""make dump / make restore file=... on the real stack: a round trip through `down -v`, an older
dump restored into a newer database, the safety dump taken before, and the files restore
refuses (truncated, foreign) while changing nothing."""

import os
import stat
import subprocess
from pathlib import Path

import requests

from harness.compose import (
    BASE,
    ROOT,
    VERSIONS,
    Stack,
    create_item,
    head_revision,
    item_names,
    make,
    mount_overlay,
    readable_folder,
)
from harness.revisions import write_revision


def dump() -> Path:
    result = make("dump")
    assert result.returncode == 0, result.stderr
    return ROOT / result.stdout.strip().splitlines()[-1]


def tables(stack: Stack) -> str:
    return stack.psql(
        "SELECT string_agg(tablename, ',' ORDER BY tablename) FROM pg_tables "
        "WHERE schemaname = 'public'"
    )


def test_dump_down_v_restore_round_trip_and_bad_files_change_nothing(
    stack: Stack, tmp_path: Path
) -> None:
    stack.fresh()
    written = [create_item(f"kept {i}")["name"] for i in range(130)]  # more than one page

    first, second = dump(), dump()
    made = [first, second]
    try:
        assert first != second  # never one over another, even within a second
        for file in made:
            assert file.read_bytes()[:5] == b"PGDMP"
            assert file.stat().st_uid == os.getuid()
            assert stat.S_IMODE(file.stat().st_mode) == 0o600
        assert (
            subprocess.run(
                ["git", "check-ignore", "-q", str(first)], cwd=ROOT, check=False
            ).returncode
            == 0
        )

        refused = make("restore", f"file={first}")
        assert refused.returncode != 0
        assert "error: the database holds data; to replace it" in refused.stderr

        stack.down(volumes=True)
        stack.up()
        assert item_names() == []
        restored = make("restore", f"file={first}")
        assert restored.returncode == 0, restored.stderr
        made.append(ROOT / restored.stdout.split("dumped first: ")[1].split()[0])
        stack.wait_ready()
        assert item_names() == written
        # The sequence came back too: a new item takes the next id, not a used one.
        assert create_item("after the restore")["id"] == len(written) + 1
        assert requests.get(f"{BASE}/readyz", timeout=5).status_code == 200

        truncated = tmp_path / "truncated.dump"
        truncated.write_bytes(first.read_bytes()[: first.stat().st_size * 2 // 3])
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
                    "-Fc",
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
            if "dumped first: " in result.stdout:
                made.append(ROOT / result.stdout.split("dumped first: ")[1].split()[0])
            assert item_names() == [*written, "after the restore"]
            assert requests.get(f"{BASE}/readyz", timeout=5).status_code == 200
    finally:
        for file in made:
            file.unlink(missing_ok=True)


def test_an_older_dump_restored_into_a_newer_database_is_exactly_the_dump(
    running: Stack,
) -> None:
    """v1's dump, restored after v2 added a table with a foreign key to v1's: v1's rows and
    tables only (v2's table comes back empty, made by web's migration to its head); then the
    safety dump of what was replaced puts v2's state back."""
    stack = running
    head = head_revision(stack)
    before = [*item_names(), *(create_item(f"v1 {i}")["name"] for i in range(5))]
    old = dump()
    made = [old]
    try:
        folder = readable_folder("e2e-v2-")
        revision = write_revision(
            folder,
            "e2ev2",
            head,
            'op.execute("CREATE TABLE e2e_notes (id serial PRIMARY KEY, '
            'item_id int NOT NULL REFERENCES probe_items (id), body text)")',
        )
        v2 = stack.with_overlay(mount_overlay(folder, {revision: f"{VERSIONS}/{revision.name}"}))
        v2.up()
        create_item("v2 only")
        stack.psql("INSERT INTO e2e_notes (item_id, body) SELECT id, 'note' FROM probe_items")
        v2_tables = tables(stack)

        restored = make("restore", f"file={old}", "force=1")
        assert restored.returncode == 0, restored.stderr
        safety = ROOT / restored.stdout.split("dumped first: ")[1].split()[0]
        made.append(safety)
        assert stat.S_IMODE(safety.stat().st_mode) == 0o600
        v2.wait_ready()
        assert item_names() == before
        assert stack.psql("SELECT count(*) FROM e2e_notes") == "0"
        assert tables(stack) == v2_tables
        assert head_revision(stack) == "e2ev2"
        logs = v2.logs("web")
        assert f"Running upgrade {head} -> e2ev2" in logs
        assert "already exists" not in logs

        back = make("restore", f"file={safety}", "force=1")
        assert back.returncode == 0, back.stderr
        made.append(ROOT / back.stdout.split("dumped first: ")[1].split()[0])
        v2.wait_ready()
        assert item_names() == [*before, "v2 only"]
        assert stack.psql("SELECT count(*) FROM e2e_notes") == str(len(before) + 1)
    finally:
        for file in made:
            file.unlink(missing_ok=True)
    stack.psql(f"DROP TABLE e2e_notes; UPDATE alembic_version SET version_num = '{head}'")
    stack.up()  # web without v2's revision
