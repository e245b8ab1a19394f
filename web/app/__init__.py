"""The application factory, create_app().

create_app() has no side effects beyond building the app: it opens no
connection and starts nothing, because Alembic's env.py calls it too.
"""

from flask import Flask, Response
from sqlalchemy import URL

from web.app.db import db
from web.config import DatabaseURL, Settings, load_settings

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
    from web.app import access, errors, health, metrics, openapi

    # First, so that its request id is on every later hook's lines. METRICS_PORT=0: no metrics.
    access.init_app(app, count=settings.metrics_port > 0)
    if settings.metrics_port:
        metrics.init_app(app)
    for blueprint in api.blueprints():
        app.register_blueprint(blueprint)
    app.register_blueprint(health.bp)
    openapi.init_app(app)
    errors.register_error_handlers(app)
    app.after_request(add_security_headers)
    if settings.forwarded_allow_ips:
        from web.app.forwarded import TrustedProxyFix

        app.wsgi_app = TrustedProxyFix(app.wsgi_app, settings.forwarded_allow_ips)
    return app


def database_uri(settings: Settings) -> URL:
    """Where the app's requests connect (DATABASE_URL: PgBouncer in the shipped stacks)."""
    return _uri(settings.database)


def migration_uri(settings: Settings) -> URL:
    """Where migrations connect (MIGRATION_DATABASE_URL: PostgreSQL itself, for the advisory
    lock and the session SETs, which a pooler in transaction mode would not keep)."""
    return _uri(settings.migration_database)


def _uri(url: DatabaseURL) -> URL:
    # URL.create takes the password as it is: no escaping, so `%` or `@` in it is safe.
    return URL.create(
        "postgresql+psycopg2",
        username=url.user,
        password=url.password,
        host=url.host,
        port=url.port,
        database=url.dbname,
        query=url.options,
    )


def engine_options(settings: Settings) -> dict:
    """Options of both of a worker's engines (writes, and the autocommit reads bind).

    Each pool holds at most DB_POOL_SIZE connections (one per thread by default) and
    never more: no overflow, so what a worker can open is known in advance and counted
    by the start-up step's connection budget (web/container/connections.py). A request
    that finds its pool empty waits DB_POOL_TIMEOUT seconds, then answers 503.
    """
    return {
        "pool_size": settings.db_pool_size,
        "max_overflow": 0,
        "pool_timeout": settings.db_pool_timeout,
        # A connection that died with a database restart is replaced before a write uses
        # it (one extra round trip). Reads skip this and retry instead (web/app/reads.py).
        "pool_pre_ping": True,
        "connect_args": {
            # Fail fast while the database is away, so requests get a 503 instead of hanging.
            "connect_timeout": settings.db_connect_timeout,
            **statement_timeout_option(settings),
        },
    }


def statement_timeout_option(settings: Settings) -> dict[str, str]:
    """DB_STATEMENT_TIMEOUT_MS as a startup option, when connecting to PostgreSQL itself.

    Through PgBouncer there is no such option to send: in transaction pooling a server
    connection serves many clients, and PgBouncer refuses a startup option it cannot
    restore per client (it restores only the settings PostgreSQL reports, which
    statement_timeout is not). There the start-up step makes the timeout the role's
    default in this database instead (web/container/startup.py), which PostgreSQL applies
    to every server connection PgBouncer opens.
    """
    if settings.through_pooler:
        return {}
    return {"options": f"-c statement_timeout={settings.db_statement_timeout_ms}"}


def add_security_headers(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response
