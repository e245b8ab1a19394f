"""The Flask-SQLAlchemy object, created unbound so that models can import it, and its helpers."""

from collections.abc import Callable
from functools import wraps

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy.exc import DBAPIError

# Named constraints make migrations reviewable and let a later migration drop
# or alter a constraint by a name known in advance.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Objects stay loaded after commit: the API renders them right after, and
# re-reading every committed row would cost a query per write.
db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    session_options={"expire_on_commit": False},
)


def retry_if_disconnected[**P, R](read: Callable[P, R]) -> Callable[P, R]:
    """Run a read once more if its pooled connection turned out dead (a database restart).

    SQLAlchemy then discards every connection older than the failure, so the second try
    gets a fresh one. Only for reads, which are safe to repeat; the write engine checks
    each connection before use instead (pool_pre_ping, web/app.py).
    """

    @wraps(read)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return read(*args, **kwargs)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
            return read(*args, **kwargs)

    return wrapper
