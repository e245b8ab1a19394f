"""Every setting, read from the environment in this one place (standard library only).

A secret may be given as NAME or as NAME_FILE (a path, as Docker and Kubernetes secrets
are mounted). Every error names the variable at fault and never prints a password.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg2")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("JSON", "TEXT")
# The committed development secrets (dev-only-secrets/) start with this: public, so refused
# wherever the app is served to others (see _refuse_dev_secrets).
DEV_ONLY_PREFIX = "dev-only-"


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming it."""


@dataclass(frozen=True)
class DatabaseURL:
    host: str
    port: int
    dbname: str
    user: str | None
    password: str | None = field(repr=False)
    options: dict[str, str]
    # The setting the password came from, to name it in an error.
    password_from: str = field(default="DATABASE_PASSWORD", compare=False)

    def redacted(self) -> str:
        auth = f"{self.user}:***@" if self.password else (f"{self.user}@" if self.user else "")
        return f"postgresql://{auth}{self.host}:{self.port}/{self.dbname}"

    def connect_kwargs(self) -> dict[str, str | int]:
        """Keyword arguments for psycopg2.connect (the start-up step's bare connection and the tests)."""
        kwargs: dict[str, str | int] = {"host": self.host, "port": self.port, "dbname": self.dbname}
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        return {**kwargs, **self.options}


@dataclass(frozen=True)
class Settings:
    database: DatabaseURL
    # Where the start-up step and migrations connect: PostgreSQL itself, never a pooler in
    # transaction mode, which would drop the advisory lock and the session SETs they need.
    migration_database: DatabaseURL
    secret_key: str
    debug: bool
    log_level: str
    max_content_length: int
    db_connect_timeout: int
    db_statement_timeout_ms: int
    db_idle_in_transaction_timeout_ms: int
    db_pool_size: int
    db_pool_timeout: int
    db_replicas: int
    db_reserved_connections: int
    db_budget_strict: bool
    db_wait_timeout: int
    migrate_on_start: bool
    migrate_on_start_timeout: int
    migration_lock_wait_ms: int
    migration_lock_timeout_ms: int
    backfill_pause_ms: int
    backfill_lock_timeout_ms: int
    port: int
    web_concurrency: int
    gunicorn_threads: int
    gunicorn_timeout: int
    gunicorn_graceful_timeout: int
    gunicorn_reload: bool
    log_format: str
    metrics_port: int
    forwarded_allow_ips: tuple[str, ...]
    api_docs: bool

    def connect_args(self) -> dict[str, int]:
        """Options of every connection the project opens (psycopg2's connect keywords)."""
        return {
            # Fail fast while the database is away: requests answer 503 instead of hanging.
            "connect_timeout": self.db_connect_timeout,
            # TCP keepalives: a server gone without a word (a lost node, a cut network) is
            # noticed in about 25 s instead of the kernel's two hours. The server probes its
            # clients likewise (db/Dockerfile), so a dead client's locks go with it.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }

    @property
    def through_pooler(self) -> bool:
        """True when requests reach PostgreSQL through something else (PgBouncer): DATABASE_URL
        names another host or port than MIGRATION_DATABASE_URL."""
        app, direct = self.database, self.migration_database
        return (app.host, app.port) != (direct.host, direct.port)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    env = _Env(os.environ if environ is None else environ)
    debug = env.boolean("DEBUG", False)
    secret_key = env.secret("SECRET_KEY")
    if not secret_key:
        if not debug:
            raise ConfigError("SECRET_KEY is not set (required unless DEBUG=true)")
        secret_key = "debug-only-insecure-key"  # noqa: S105 (only with DEBUG=true)
    threads = env.integer("GUNICORN_THREADS", 4, minimum=1)
    database = _database_url(env, "DATABASE_URL", "DATABASE_PASSWORD")
    # Migrations may log in as another role (the schema's owner), with its own password.
    migration_database = _database_url(
        env, "MIGRATION_DATABASE_URL", "MIGRATION_DATABASE_PASSWORD", default=database
    )
    forwarded_allow_ips = _networks(env, "FORWARDED_ALLOW_IPS")
    if forwarded_allow_ips:
        _refuse_dev_secrets(secret_key, database, migration_database)
    return Settings(
        database=database,
        migration_database=migration_database,
        secret_key=secret_key,
        debug=debug,
        log_level=env.choice("LOG_LEVEL", "INFO", LOG_LEVELS),
        max_content_length=env.integer("MAX_CONTENT_LENGTH", 64 * 1024, minimum=1),
        db_connect_timeout=env.integer("DB_CONNECT_TIMEOUT", 3, minimum=1),
        db_statement_timeout_ms=env.integer("DB_STATEMENT_TIMEOUT_MS", 10_000, minimum=0),
        # A request's transaction left open and idle (a bug, a stuck worker) holds its locks
        # and, through PgBouncer, a server connection: PostgreSQL ends it after this.
        db_idle_in_transaction_timeout_ms=env.integer(
            "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", 30_000, minimum=0
        ),
        # One connection per thread in each of a worker's two pools (writes, reads): a
        # thread holds at most one of each at a time, so more would never be used.
        db_pool_size=env.integer("DB_POOL_SIZE", threads, minimum=1),
        db_pool_timeout=env.integer("DB_POOL_TIMEOUT", 5, minimum=1),
        db_replicas=env.integer("DB_REPLICAS", 1, minimum=1),
        db_reserved_connections=env.integer("DB_RESERVED_CONNECTIONS", 5, minimum=0),
        db_budget_strict=env.boolean("DB_BUDGET_STRICT", False),
        db_wait_timeout=env.integer("DB_WAIT_TIMEOUT", 60, minimum=0),
        migrate_on_start=env.boolean("MIGRATE_ON_START", True),
        # Past it, the start-up step cancels its migration, rolls it back and exits 1: under
        # the orchestrator's healthcheck window (docs/deploying.md), with DB_WAIT_TIMEOUT. 0: none.
        migrate_on_start_timeout=env.integer("MIGRATE_ON_START_TIMEOUT", 30, minimum=0),
        migration_lock_wait_ms=env.integer("MIGRATION_LOCK_WAIT_MS", 300_000, minimum=1),
        migration_lock_timeout_ms=env.integer("MIGRATION_LOCK_TIMEOUT_MS", 5_000, minimum=0),
        # make backfill (web/ops/backfill.py): the pause between two batches, and how
        # long a batch waits for a row lock before it lets go of its rows and tries again.
        backfill_pause_ms=env.integer("BACKFILL_PAUSE_MS", 100, minimum=0),
        backfill_lock_timeout_ms=env.integer("BACKFILL_LOCK_TIMEOUT_MS", 200, minimum=1),
        port=env.integer("PORT", 8000, minimum=1, maximum=65535),
        web_concurrency=env.integer("WEB_CONCURRENCY", 2 * available_cpus() + 1, minimum=1),
        gunicorn_threads=threads,
        gunicorn_timeout=env.integer("GUNICORN_TIMEOUT", 30, minimum=1),
        gunicorn_graceful_timeout=env.integer("GUNICORN_GRACEFUL_TIMEOUT", 20, minimum=1),
        gunicorn_reload=env.boolean("GUNICORN_RELOAD", False),
        # json for machines (the image), text for people (make up and the tools container).
        log_format=env.choice("LOG_FORMAT", "json", LOG_FORMATS).lower(),
        metrics_port=env.integer("METRICS_PORT", 9000, minimum=0, maximum=65535),  # 0: off
        forwarded_allow_ips=forwarded_allow_ips,
        # The API page for people at /docs (web/app/apidocs); /openapi.json is always served.
        api_docs=env.boolean("API_DOCS", True),
    )


def _refuse_dev_secrets(secret_key: str, *databases: DatabaseURL) -> None:
    """The rule: behind a proxy (FORWARDED_ALLOW_IPS set), the app is served to others, so the
    public development secrets are refused. Without it, compose publishes it on 127.0.0.1."""
    named = [("SECRET_KEY", secret_key)]
    named += [(url.password_from, url.password or "") for url in databases]
    for name, value in named:
        if value.startswith(DEV_ONLY_PREFIX):
            raise ConfigError(
                f"{name} is a development secret ({DEV_ONLY_PREFIX}...), refused behind a "
                "proxy (FORWARDED_ALLOW_IPS is set): give it a real one (docs/security.md)"
            )


def available_cpus() -> int:
    """CPUs this container may use: the cgroup quota when one is set, else the affinity mask."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, round(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


def _networks(env: _Env, name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses or networks (CIDR), checked here; none if unset."""
    items = tuple(item.strip() for item in (env.get(name) or "").split(",") if item.strip())
    for item in items:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"{name} must list IP addresses or networks (got {item!r})") from None
    return items


def _database_url(
    env: _Env, name: str, password: str, default: DatabaseURL | None = None
) -> DatabaseURL:
    """The URL in `name` (or `name`_FILE); `default` when it is unset and there is one.

    Its password: the setting `password` (or its _FILE), else DATABASE_PASSWORD, else the
    URL's own."""
    given = [
        (setting, env.secret(setting)) for setting in dict.fromkeys((password, "DATABASE_PASSWORD"))
    ]
    raw = env.secret(name)
    if not raw and default is not None:
        return default
    if not raw:
        raise ConfigError(f"{name} is not set (e.g. postgresql://user@db:5432/app)")
    try:
        url = urlsplit(raw)
        port = url.port or 5432
    except ValueError as exc:  # bad port or bracketed host
        raise ConfigError(f"{name} is malformed: {exc}") from None
    if url.scheme not in SCHEMES:
        raise ConfigError(
            f"{name} is malformed: scheme must be postgresql:// (got {url.scheme or 'none'!r})"
        )
    dbname = unquote(url.path.lstrip("/"))
    if not url.hostname or not dbname:
        raise ConfigError(f"{name} is malformed: it needs a host and a database name")
    if url.password:
        given.append((name, unquote(url.password)))
    source, secret = next(((s, v) for s, v in given if v), (password, None))
    return DatabaseURL(
        host=url.hostname,
        port=port,
        dbname=dbname,
        user=unquote(url.username) if url.username else None,
        password=secret,
        options=dict(parse_qsl(url.query)),
        password_from=source,
    )


class _Env:
    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def get(self, name: str) -> str | None:
        value = self.environ.get(name, "").strip()
        return value or None

    def secret(self, name: str) -> str | None:
        """NAME, or the contents of the file named by NAME_FILE; not both."""
        path = self.get(f"{name}_FILE")
        if path is None:
            return self.environ.get(name) or None
        if self.environ.get(name):
            raise ConfigError(f"{name} and {name}_FILE are both set; set only one")
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n") or None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or type(exc).__name__
            raise ConfigError(f"{name}_FILE: cannot read {path}: {reason}") from None

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{name} must be true or false (got {value!r})")

    def integer(self, name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise ConfigError(f"{name} must be an integer (got {value!r})") from None
        if number < minimum or (maximum is not None and number > maximum):
            bounds = f">= {minimum}" if maximum is None else f"between {minimum} and {maximum}"
            raise ConfigError(f"{name} must be {bounds} (got {number})")
        return number

    def choice(self, name: str, default: str, choices: tuple[str, ...]) -> str:
        value = (self.get(name) or default).upper()
        if value not in choices:
            raise ConfigError(f"{name} must be one of {', '.join(choices)} (got {value!r})")
        return value
