"""The sample domain: projects and their tasks.

Small on purpose, but it has what makes migrations worth reviewing: a foreign
key, a unique constraint, indexes and server-side defaults.
"""

from datetime import datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from web.app.db import db

NAME_MAX = 100
DESCRIPTION_MAX = 2000
TITLE_MAX = 200
PRIORITY_RANGE = (-1000, 1000)


class Project(db.Model):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(NAME_MAX), unique=True)
    description: Mapped[str] = mapped_column(String(DESCRIPTION_MAX), server_default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Task(db.Model):
    __tablename__ = "tasks"
    __table_args__ = (
        UniqueConstraint("project_id", "title"),
        # Serves "the open tasks of a project" without touching finished ones.
        Index("ix_tasks_project_id_open", "project_id", postgresql_where=text("NOT done")),
        # For "recent tasks" queries. Added in a later revision, built CONCURRENTLY.
        Index("ix_tasks_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The unique constraint's index, which leads with project_id, serves the foreign key.
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    done: Mapped[bool] = mapped_column(server_default=text("false"))
    priority: Mapped[int] = mapped_column(SmallInteger, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
