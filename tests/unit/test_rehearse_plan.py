"""make rehearse's pure parts before the run: the values planned from a catalog description,
and the pending revisions in order (web/ops/rehearse/catalog.py, pending.py)."""

import pytest

from web.base.revisions import applied
from web.ops.rehearse import RehearsalError
from web.ops.rehearse.catalog import Column, Table, plan_values
from web.ops.rehearse.pending import base_heads, in_order, pending_revisions


def column(name: str, type_: str, typname: str, category: str, **kw) -> Column:
    return Column(
        name,
        type_,
        typname,
        category,
        kw.get("typmod", -1),
        kw.get("not_null", True),
        kw.get("has_default", False),
    )


def owners() -> Table:
    return Table(
        "owners",
        [
            column("id", "integer", "int4", "N", has_default=True),
            column("code", "character varying(12)", "varchar", "S", typmod=16),
            column("colour", "colour", "colour", "E"),
            column("born", "date", "date", "D"),
            column("note", "text", "text", "S", not_null=False),
        ],
        "id",
        {},
    )


def pets() -> Table:
    return Table(
        "pets",
        [
            column("id", "bigint", "int8", "N", has_default=True),
            column("owner", "integer", "int4", "N"),
        ],
        "id",
        {"owner": ("owners", "id")},
    )


def test_values_come_from_each_columns_type_and_defaults_are_left_alone() -> None:
    [planned] = plan_values([owners()])
    assert "id" not in planned.values  # serial: the database numbers the rows
    assert planned.values["code"] == (
        "(right('owners.code-' || i, 12))::character varying(12)"  # within varchar(12)
    )
    assert planned.values["colour"] == (
        "((enum_range(NULL::colour))[1 + i % cardinality(enum_range(NULL::colour))])::colour"
    )
    assert planned.values["born"] == "(current_date - (i % 3650)::int)::date"
    assert planned.values["note"] == "('owners.note-' || i)::text"


def test_a_referenced_table_is_filled_first_and_a_reference_takes_the_same_row_number() -> None:
    ordered = plan_values([pets(), owners()])
    assert [table.name for table in ordered] == ["owners", "pets"]
    pet = ordered[1]
    assert "owner" not in pet.values
    assert pet.fill_references == {"owner": "(i)::integer"}  # owners.id is serial: 1..N
    assert pet.traffic_references == {"owner": '(SELECT "id" FROM "owners" LIMIT 1)'}


def test_a_not_null_column_of_an_unknown_type_is_named() -> None:
    table = Table("shapes", [column("area", "polygon", "polygon", "G")], None, {})
    with pytest.raises(RehearsalError, match=r"shapes\.area \(polygon\).*file=<backup>"):
        plan_values([table])


def test_a_nullable_column_of_an_unknown_type_is_left_empty() -> None:
    table = Table("shapes", [column("area", "polygon", "polygon", "G", not_null=False)], None, {})
    assert plan_values([table])[0].values == {}


GRAPH = {"a": (), "b": ("a",), "c": ("b",), "d": ("b",), "e": ("c", "d")}


def test_pending_revisions_come_after_the_ones_they_build_on() -> None:
    assert applied(GRAPH, ("c",)) == {"a", "b", "c"}
    assert base_heads(GRAPH, {"a", "b", "zzz"}) == ["b"]  # an id the code lacks: ignored
    assert in_order(GRAPH, {"c", "d", "e"}) == ["c", "d", "e"]


def test_pending_after_a_base_and_after_a_backup() -> None:
    heads, pending, where = pending_revisions("a, b", lambda _: [], GRAPH)
    assert (heads, pending, where) == (["b"], ["c", "d", "e"], "the base (b)")
    answers = {"SELECT to_regclass": [(True,)], "SELECT version_num": [("c",)]}

    def query(statement: str) -> list[tuple]:
        return next(rows for start, rows in answers.items() if statement.startswith(start))

    assert pending_revisions(None, query, GRAPH)[:2] == (["c"], ["d", "e"])


def test_a_backup_at_an_unknown_revision_is_one_clear_error() -> None:
    def query(statement: str) -> list[tuple]:
        return [(True,)] if "to_regclass" in statement else [("zz9",)]

    with pytest.raises(RehearsalError, match="revision zz9, which this code does not know"):
        pending_revisions(None, query, GRAPH)
