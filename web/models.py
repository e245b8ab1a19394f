"""Your models: the tables defined (or imported) here are what `make revision` compares
with the database. A resource's routes and schemas go under web/api/ (README, "Add a resource").

    class Note(db.Model):  # db: from web.app.db import db
        __tablename__ = "notes"
        id: Mapped[int] = mapped_column(primary_key=True)
        text: Mapped[str]
"""
