"""The sample: projects and their tasks (models, schemas, routes and their tests).

A guest: nothing outside this folder names it. `make remove-sample` deletes it,
with the revisions that created its tables.
"""

from web.api.sample.routes import bp

__all__ = ["bp"]
