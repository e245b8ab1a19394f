"""The fast read path: a row or a page of rows of any model, in one round trip.

Writes go through the ORM session, in a transaction. A one-SELECT read needs neither: on
the "reads" engine (autocommit) it goes without BEGIN and ROLLBACK or a unit of work, its
statement built once per model (docs/benchmarks.md has what it buys). Optional:
`db.session.get(Model, id)` reads the same rows. Rows render like ORM objects in pydantic.
"""

from collections.abc import Callable
from functools import cache, wraps
from typing import Any

from sqlalchemy import Row, Select, bindparam, select
from sqlalchemy.exc import DBAPIError
from werkzeug.exceptions import NotFound

from web.app.db import db

# PostgreSQL's integer: an id past it cannot exist, so it is a 404, not a database error.
MAX_ID = 2**31 - 1


def retry_if_disconnected[**P, R](read: Callable[P, R]) -> Callable[P, R]:
    """Run a read once more if its pooled connection was dead (a database restart): the
    pool then drops the older ones. Reads only, safe to repeat; writes ping first (db.py)."""

    @wraps(read)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return read(*args, **kwargs)

    return wrapper


@cache
def _by_id(model: type) -> Select:
    table = model.__table__
    return select(table).where(table.c.id == bindparam("id"))


@cache
def _page(model: type, filters: tuple[str, ...]) -> Select:
    table = model.__table__
    return (
        select(table)
        .where(table.c.id > bindparam("after"), *(table.c[f] == bindparam(f) for f in filters))
        .order_by(table.c.id)
        .limit(bindparam("limit"))
    )


def not_found(model: type, row_id: Any) -> NotFound:
    return NotFound(f"{model.__name__.lower()} {row_id} does not exist")


@retry_if_disconnected
def get_or_404(model: type, row_id: int) -> Row:
    """The row with this id, or a 404."""
    row = None
    if 0 <= row_id <= MAX_ID:
        with db.engines["reads"].connect() as connection:
            row = connection.execute(_by_id(model), {"id": row_id}).first()
    if row is None:
        raise not_found(model, row_id)
    return row


@retry_if_disconnected
def page(model: type, *, after: int, limit: int, **equal: Any) -> tuple[list[Row], int | None]:
    """Up to `limit` rows with an id above `after`, in id order, whose columns equal
    `equal`; and the id to pass as `after` for the next page (None on the last one)."""
    statement = _page(model, tuple(sorted(equal)))
    with db.engines["reads"].connect() as connection:
        rows = list(connection.execute(statement, {"after": after, "limit": limit + 1, **equal}))
    more = len(rows) > limit
    return rows[:limit], rows[limit - 1].id if more else None
