"""The application factory, create_app().

create_app() has no side effects beyond building the app: it opens no
connection and starts nothing, because Alembic's env.py calls it too.
"""

from flask import Flask, Response

from web.app.db import database_uri, db, engine_options
from web.base.config import Settings, load_settings

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
    "Cache-Control": "no-store",
}


def create_app(settings: Settings | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    uri = database_uri(settings)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        DEBUG=settings.debug,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        SQLALCHEMY_DATABASE_URI=uri,
        # A second pool, in autocommit, for single-statement reads (web/app/reads.py).
        SQLALCHEMY_BINDS={
            "reads": {"url": uri, "isolation_level": "AUTOCOMMIT", "pool_pre_ping": False}
        },
        SQLALCHEMY_ENGINE_OPTIONS=engine_options(settings),
    )
    app.logger.setLevel(settings.log_level)
    db.init_app(app)

    import web.models  # noqa: F401 (your models, so that Alembic sees them)
    from web import api
    from web.app import access, apidocs, errors, health, metrics, openapi

    # First, so that its request id is on every later hook's lines. METRICS_PORT=0: no metrics.
    access.init_app(app, count=settings.metrics_port > 0)
    if settings.metrics_port:
        metrics.init_app(app)
    for blueprint in api.blueprints():
        app.register_blueprint(blueprint)
    app.register_blueprint(health.bp)
    openapi.init_app(app)
    apidocs.init_app(app, enabled=settings.api_docs)
    errors.register_error_handlers(app)
    app.after_request(add_security_headers)
    if settings.forwarded_allow_ips:
        from web.app.forwarded import TrustedProxyFix

        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.forwarded_allow_ips)
    return app


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
