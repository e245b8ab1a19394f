"""Resources: a module dropped into web/api/ is served, and docs/development.md's "Add a
resource" walkthrough works as written, applied to a copy of the app (with or without the sample)."""

import json
import re
import sys
from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.revisions import PROBE_MODULE, write_probe_revision
from web.base.paths import ROOT
from web.base.revisions import code_revisions

pytestmark = pytest.mark.usefixtures("test_database")

HEAD = (code_revisions()[1] or (None,))[0]

# What step 4 of the walkthrough does with curl, through the test client.
TRY_IT = """
import json
from web.app import create_app

client = create_app().test_client()
created = client.post("/api/notes", json={"text": "first"})
note = created.json
answers = {
    "created": [created.status_code, created.headers["Location"], note["text"]],
    "fetched": client.get(f"/api/notes/{note['id']}").json == note,
    "listed": client.get("/api/notes?limit=5").json,
    "invalid": client.post("/api/notes", json={"text": ""}).status_code,
    "unknown_field": client.post("/api/notes", json={"text": "a", "x": 1}).status_code,
    "deleted": client.delete(f"/api/notes/{note['id']}").status_code,
    "gone": client.get(f"/api/notes/{note['id']}").status_code,
    "documented": sorted(client.get("/openapi.json").json["paths"]),
}
print(json.dumps(answers))
"""


def walkthrough_files() -> dict[str, str]:
    """The code blocks of docs/development.md's "Add a resource", by the file named in their
    first line."""
    page = (ROOT / "docs" / "development.md").read_text()
    section = page.split("## Add a resource", 1)[1].split("\n## ", 1)[0]
    files: dict[str, str] = {}
    for block in re.findall(r"```python\n(.*?)```", section, re.S):
        lines = [line.removeprefix("   ") for line in block.splitlines()]
        assert lines[0].startswith("# web/"), lines[0]
        files[lines[0][2:]] = "\n".join(lines[1:]) + "\n"
    return files


def test_the_walkthrough_adds_a_working_documented_resource(
    app_copy: Path, fresh_database: str
) -> None:
    files = walkthrough_files()
    assert set(files) == {"web/models.py", "web/api/notes.py"}
    models = app_copy / "web" / "models.py"
    models.write_text(models.read_text() + "\n" + files["web/models.py"])
    (app_copy / "web" / "api" / "notes.py").write_text(files["web/api/notes.py"])

    assert run_in(app_copy, "alembic", "upgrade", "head", database=fresh_database).returncode == 0
    revision = run_in(
        app_copy,
        "alembic",
        "revision",
        "--autogenerate",
        "-m",
        "add notes",
        database=fresh_database,
    )
    assert revision.returncode == 0, revision.stderr
    [written] = (app_copy / "migrations" / "versions").glob("*_add_notes.py")
    assert 'op.create_table(\n        "notes"' in written.read_text()
    upgrade = run_in(app_copy, "alembic", "upgrade", "head", database=fresh_database)
    assert upgrade.returncode == 0, upgrade.stderr

    result = run_in(app_copy, sys.executable, "-c", TRY_IT, database=fresh_database)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert answers["created"] == [201, "/api/notes/1", "first"]
    assert answers["fetched"] is True
    assert [item["text"] for item in answers["listed"]["items"]] == ["first"]
    assert answers["listed"]["next_after"] is None
    assert (answers["invalid"], answers["unknown_field"]) == (422, 422)
    assert (answers["deleted"], answers["gone"]) == (204, 404)
    assert {"/api/notes", "/api/notes/{note_id}"} <= set(answers["documented"])


def test_the_probe_resource_matches_its_revision(app_copy: Path, fresh_database: str) -> None:
    """The suites' own resource (harness/probe_resource.py): its table is what its model says."""
    (app_copy / "web" / "api" / "probe.py").write_text(PROBE_MODULE.read_text())
    write_probe_revision(app_copy / "migrations" / "versions", HEAD)
    assert run_in(app_copy, "alembic", "upgrade", "head", database=fresh_database).returncode == 0
    check = run_in(app_copy, "alembic", "check", database=fresh_database)
    assert check.returncode == 0, check.stdout + check.stderr
