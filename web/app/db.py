"""The Flask-SQLAlchemy object, created unbound so that models can import it."""

from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

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
