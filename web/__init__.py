"""The web service, in four parts:

    web/config.py   every setting, from the environment
    web/app/        the HTTP app: create_app(), the database, errors, health, OpenAPI
    web/api/        the API: one module (or package) per resource, found by create_app()
    web/models.py   your models
    web/container/  what starts and runs the container: start-up step, gunicorn, healthcheck

Deliberately empty: `python -m web.container.startup` runs on every container
start and must not pay for importing Flask and SQLAlchemy through this package.
"""
