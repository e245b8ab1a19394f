"""The connection budget: what this replica may open, against what the server allows.

Every gunicorn worker has two pools (writes, and autocommit reads), each of at most
DB_POOL_SIZE connections and no overflow (web/app/__init__.py). So a replica opens at
most WEB_CONCURRENCY x 2 x DB_POOL_SIZE connections to DATABASE_URL. The server keeps
superuser_reserved_connections (and, from PostgreSQL 16, reserved_connections) of its
max_connections for administrators; DB_RESERVED_CONNECTIONS more are left for
migrations, backups and people (`make psql`); DB_REPLICAS replicas share the rest.

When DATABASE_URL is not the server MIGRATION_DATABASE_URL names, the app goes through
a pooler (PgBouncer), whose own pool is what the server sees: the replica's share of
the server is then not the app's to check, and the pooler's settings say it.

Standard library only: the start-up step runs this before Flask or SQLAlchemy is imported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from web.base.config import Settings

# Two pools per worker: the session's (writes) and the "reads" bind.
POOLS_PER_WORKER = 2


@dataclass(frozen=True)
class Budget:
    max_connections: int
    server_reserved: int  # superuser_reserved_connections + reserved_connections
    reserved: int  # DB_RESERVED_CONNECTIONS: migrations, backups, people
    replicas: int
    per_worker: int
    workers: int

    @property
    def per_replica(self) -> int:
        return self.workers * self.per_worker

    @property
    def share(self) -> int:
        """Connections one replica may open: what is left after the reserves, split evenly."""
        return (self.max_connections - self.server_reserved - self.reserved) // self.replicas

    @property
    def fits(self) -> bool:
        return self.per_replica <= self.share

    def describe(self) -> str:
        return (
            f"this replica may open {self.per_replica} connections "
            f"(WEB_CONCURRENCY {self.workers} x {POOLS_PER_WORKER} pools x DB_POOL_SIZE "
            f"{self.per_worker // POOLS_PER_WORKER}); its share of the server is {self.share} "
            f"(max_connections {self.max_connections} - {self.server_reserved} reserved for "
            f"superusers - DB_RESERVED_CONNECTIONS {self.reserved}, "
            f"over DB_REPLICAS {self.replicas})"
        )


def budget(settings: Settings, query: Callable[[str], list[tuple]]) -> Budget:
    """The budget, with the server's limits read through `query` (SQL -> rows)."""

    rows = query(
        "SELECT name, setting::int FROM pg_settings WHERE name IN "
        "('max_connections', 'superuser_reserved_connections', 'reserved_connections')"
    )
    setting = dict(rows)  # reserved_connections is new in PostgreSQL 16: absent before
    return Budget(
        max_connections=setting["max_connections"],
        server_reserved=setting["superuser_reserved_connections"]
        + setting.get("reserved_connections", 0),
        reserved=settings.db_reserved_connections,
        replicas=settings.db_replicas,
        per_worker=POOLS_PER_WORKER * settings.db_pool_size,
        workers=settings.web_concurrency,
    )
