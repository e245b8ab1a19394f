"""Your models. Tables defined here (or imported from here) are what
`make revision` compares with the database.

    from sqlalchemy.orm import Mapped, mapped_column
    from web.app.db import db

    class Note(db.Model):
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str]

A resource's routes and schemas go in a module of their own under web/api/
(see the README's "Add a resource").
"""
