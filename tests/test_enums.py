"""Enums: autogenerate sees a PostgreSQL enum gain values (alembic-postgresql-enum, imported
by migrations/env.py), and the revision it writes adds them with ALTER TYPE ... ADD VALUE,
which changes the type only: the table using it is not rewritten."""

from pathlib import Path

import pytest

from harness.appcopy import run_in
from harness.database import query

pytestmark = pytest.mark.usefixtures("test_database")

MODEL = """

import enum

from sqlalchemy import Enum
from sqlalchemy.orm import Mapped, mapped_column

from web.app.db import db


class Shade(enum.Enum):
{values}


class Swatch(db.Model):
    __tablename__ = "enum_swatches"

    id: Mapped[int] = mapped_column(primary_key=True)
    shade: Mapped[Shade] = mapped_column(Enum(Shade, name="enum_shade"))
"""


def write_model(app: Path, values: list[str]) -> None:
    models = app / "web" / "models.py"
    original = models.read_text().split("\n\nimport enum\n", 1)[0]
    members = "\n".join(f"    {value} = {value!r}" for value in values)
    models.write_text(original + MODEL.format(values=members))


def autogenerate(app: Path, database: str, message: str) -> str:
    """The upgrade() of the revision `alembic revision --autogenerate` writes."""
    result = run_in(app, "alembic", "revision", "--autogenerate", "-m", message, database=database)
    assert result.returncode == 0, result.stderr
    [written] = (app / "migrations" / "versions").glob(f"*_{message.replace(' ', '_')}.py")
    return written.read_text().split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]


def upgrade(app: Path, database: str) -> None:
    result = run_in(app, "alembic", "upgrade", "head", database=database)
    assert result.returncode == 0, result.stderr


def test_an_enum_gaining_values_is_altered_in_place(app_copy: Path, fresh_database: str) -> None:
    upgrade(app_copy, fresh_database)  # the code's own revisions, if any
    write_model(app_copy, ["red", "green"])
    assert "enum_shade" in autogenerate(app_copy, fresh_database, "add swatches")
    upgrade(app_copy, fresh_database)
    query(
        fresh_database,
        "INSERT INTO enum_swatches (shade) SELECT (ARRAY['red', 'green'])[1 + mod(i, 2)]::enum_shade"
        " FROM generate_series(1, 20000) AS i",
    )
    [(file_before,)] = query(fresh_database, "SELECT pg_relation_filenode('enum_swatches')")

    # One value inserted in the middle, one appended.
    write_model(app_copy, ["red", "blue", "green", "white"])
    revision = autogenerate(app_copy, fresh_database, "more shades")
    assert "ADD VALUE IF NOT EXISTS 'blue' BEFORE 'green'" in revision
    assert "ADD VALUE IF NOT EXISTS 'white'" in revision
    assert "autocommit_block()" in revision  # the new values are usable right after
    assert "sync_enum_values" not in revision  # the library's type re-creation
    sql = run_in(app_copy, "alembic", "upgrade", "head", "--sql", database=fresh_database)
    assert "ALTER TYPE public.enum_shade ADD VALUE IF NOT EXISTS 'white';" in sql.stdout
    upgrade(app_copy, fresh_database)

    # Not rewritten: the table keeps its file (a rewrite, as ALTER COLUMN TYPE does, makes a new one).
    [(file_after,)] = query(fresh_database, "SELECT pg_relation_filenode('enum_swatches')")
    assert file_after == file_before
    assert query(fresh_database, "SELECT enum_range(NULL::enum_shade)::text") == [
        ("{red,blue,green,white}",)
    ]
    query(fresh_database, "UPDATE enum_swatches SET shade = 'white' WHERE id = 1")
    assert query(fresh_database, "SELECT count(*) FROM enum_swatches WHERE shade = 'white'") == [
        (1,)
    ]
    # The models and the database now agree: a third autogenerate has nothing to write.
    check = run_in(app_copy, "alembic", "check", database=fresh_database)
    assert check.returncode == 0, check.stdout + check.stderr
