"""The connection budget: what this replica may open, against what the server allows.

A replica opens at most WEB_CONCURRENCY x 2 pools x DB_POOL_SIZE connections (web/app/db.py).
The server keeps its reserved connections, DB_RESERVED_CONNECTIONS more are left for
migrations, backups and people, and DB_REPLICAS replicas share the rest. Through a pooler
(PgBouncer), the server sees the pooler's pool instead, which its own settings size.
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
