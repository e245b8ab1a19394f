"""The web service: a Flask app (web.app.create_app) and its start-up step (web.startup).

Deliberately empty: `python -m web.startup` runs on every container start and
must not pay for importing Flask and SQLAlchemy through this package.
"""
