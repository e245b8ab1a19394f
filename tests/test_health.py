"""/healthz and /readyz against real databases: at head, behind, ahead, unreachable, and
on an empty migration history. Revisions of their own, in a copy of the app."""

import json
import sys
from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.database import query
from harness.revisions import write_revision
from web.base.revisions import code_revisions

pytestmark = pytest.mark.usefixtures("test_database")
HEAD = (code_revisions()[1] or (None,))[0]
READYZ = (
    "import json; from web.app import create_app; "
    "response = create_app().test_client().get('/readyz'); "
    "print(json.dumps([response.status_code, response.json]))"
)


def readyz(app: Path, database: str) -> tuple[int, dict]:
    """GET /readyz of the app copy `app`, on `database`."""
    result = run_in(app, sys.executable, "-c", READYZ, database=database)
    assert result.returncode == 0, result.stderr
    status, body = json.loads(result.stdout)
    return status, body


def ready(revision: str, post_deploy_pending: int = 0) -> dict:
    return {"status": "ready", "revision": revision, "post_deploy_pending": post_deploy_pending}


def upgrade(app: Path, database: str) -> None:
    result = run_in(app, "alembic", "upgrade", "head", database=database)
    assert result.returncode == 0, result.stderr


def test_ready_at_head(client) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ready",
        "revision": HEAD or "none",
        "post_deploy_pending": 0,
    }


def test_ready_on_an_empty_history(fresh_database: str, app_copy: Path) -> None:
    for revision in (app_copy / "migrations" / "versions").glob("*.py"):
        revision.unlink()
    assert readyz(app_copy, fresh_database) == (200, ready("none"))


def test_not_ready_behind_head_then_ready_after_upgrade(
    fresh_database: str, app_copy: Path
) -> None:
    write_revision(app_copy / "migrations" / "versions", "t_behind", HEAD)
    status, body = readyz(app_copy, fresh_database)
    assert status == 503
    assert body["reason"] == "database is at revision none, the code expects t_behind"
    upgrade(app_copy, fresh_database)
    assert readyz(app_copy, fresh_database) == (200, ready("t_behind"))


def test_still_ready_when_database_is_ahead(fresh_database: str, app_copy: Path) -> None:
    """A newer release migrated while this one still serves (a rolling deploy): stay ready."""
    write_revision(app_copy / "migrations" / "versions", "t_ahead", HEAD)
    upgrade(app_copy, fresh_database)
    newer = write_revision(app_copy / "migrations" / "versions", "t_newer", "t_ahead")
    upgrade(app_copy, fresh_database)
    newer.unlink()
    assert readyz(app_copy, fresh_database) == (
        200,
        {
            **ready("t_newer"),
            "schema": "ahead",
            "note": "database is at revision t_newer, ahead of this code's t_ahead",
        },
    )


def test_not_ready_on_a_revision_of_another_branch(fresh_database: str, app_copy: Path) -> None:
    write_revision(app_copy / "migrations" / "versions", "t_ahead", HEAD)
    upgrade(app_copy, fresh_database)
    query(fresh_database, "UPDATE alembic_version SET version_num = 'f00dfeed'")
    status, body = readyz(app_copy, fresh_database)
    assert status == 503
    assert body["reason"] == (
        "database is at revision f00dfeed, which this code does not know and which is not "
        "recorded as descending from its t_ahead"
    )


def test_ready_with_post_deploy_revisions_pending_which_it_counts(
    fresh_database: str, app_copy: Path
) -> None:
    """Post-deploy revisions run after the rollout: ready at the deploy-time head without them."""
    write_revision(app_copy / "migrations" / "versions", "t_expand", HEAD)
    post = app_copy / "migrations" / "post_deploy"
    write_revision(post, "t_contract1", None)
    write_revision(post, "t_contract2", "t_contract1")
    upgrade(app_copy, fresh_database)
    assert readyz(app_copy, fresh_database) == (200, ready("t_expand", post_deploy_pending=2))
    result = run_in(
        app_copy, "alembic", "-n", "post", "upgrade", "t_contract1", database=fresh_database
    )
    assert result.returncode == 0, result.stderr
    assert readyz(app_copy, fresh_database) == (200, ready("t_expand", post_deploy_pending=1))
