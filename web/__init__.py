"""The web service, in layers; each may import the ones below it, never those above:

    web/ops/        operator tools: backfill, rehearse, lint-migrations, remove-sample
    web/container/  what starts and runs the container: start-up step, gunicorn, healthcheck
    web/app/        the HTTP app: create_app(), the database, errors, health, OpenAPI
    web/api/        the API, one module or package per resource (web/api/sample: removable)
    web/models.py   your models
    web/base/       settings, paths, revisions, log lines: standard library only

Empty on purpose: the start-up step imports web.base on every container start and must not
pay for Flask and SQLAlchemy through this package. pyproject.toml declares the layers.
"""
