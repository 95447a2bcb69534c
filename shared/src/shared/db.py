"""Engine creation, one pattern for every service."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn

from shared.settings import ServiceSettings


def _json_dumps(value: object) -> str:
    return orjson.dumps(value).decode()


def create_engine(settings: ServiceSettings, *, pool_size: int | None = None,
                  purpose: str = "") -> AsyncEngine:
    """The service's engine; `purpose` names a second, smaller one kept apart from it
    (pool_size connections, application_name cairn-<service>-<purpose>)."""
    name = f"cairn-{settings.service_name}" + (f"-{purpose}" if purpose else "")
    return create_async_engine(
        settings.database_url,
        # A fixed pool: an overflow connection is closed when handed back to a full pool,
        # so at a steady 10-20 requests in flight per process every few requests opened
        # a connection (a PostgreSQL backend forked and torn down: measured ~1.3 ms of
        # API CPU per connection). Past the pool, requests queue for a connection.
        pool_size=settings.db_pool_size if pool_size is None else pool_size,
        max_overflow=0,
        # No ping per checkout (a round trip on every request, ~0.2 ms of API CPU each):
        # a connection found dead raises a disconnect error, SQLAlchemy then discards
        # the whole pool, and the request answers 5xx once; recycling bounds idle age.
        pool_pre_ping=False,
        pool_recycle=1800,
        json_serializer=_json_dumps,
        json_deserializer=orjson.loads,
        connect_args={"server_settings": {"application_name": name, "timezone": "UTC"}},
    )


async def asyncpg_connection(conn: AsyncConnection) -> Any:
    """The asyncpg connection under an SQLAlchemy one, for hot paths (the relays, the
    ledger's ingest and statement reads: plain tuples, no statement compilation). Used
    outside any SQLAlchemy transaction, each statement commits on its own, unless the
    caller opens the driver's own transaction."""
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    if not hasattr(driver, "fetchval"):
        raise TypeError(f"hot paths need the asyncpg driver, not {type(driver)}")
    return driver


class HeldConnections:
    """Driver connections a hot reader keeps between its queries (the statement reads),
    instead of a pool check-out and check-in around each: measured at 3,000 statement
    reads a second, ~50 µs of API CPU less per read (~15%). Each is one of the
    engine's pooled connections, checked out when first needed and kept, up to `keep`
    of them (the reader's queries at once; more at a moment go back to the pool after
    use). One older than `recycle_seconds` goes back to the pool instead of being used
    (the pool recycles it, as its own `pool_recycle`). A query that fails, or is
    cancelled, may leave its connection mid-protocol: it is invalidated (closed; the
    pool opens a fresh one). Not for transactions: `connection()` gives the bare asyncpg
    connection, each statement committing on its own. `close()` (the service's
    shutdown) hands every kept connection back."""

    def __init__(self, engine: AsyncEngine, *, keep: int,
                 recycle_seconds: float = 1800.0) -> None:
        self._engine, self._keep, self._recycle = engine, keep, recycle_seconds
        self._idle: list[tuple[Any, float]] = []  # (pooled connection, checked out at)

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        raw, since = await self._take()
        try:
            yield raw.driver_connection
        except BaseException:
            raw.invalidate()
            await greenlet_spawn(raw.close)  # a no-op once invalidated
            raise
        if len(self._idle) < self._keep and self._young(since):
            self._idle.append((raw, since))
        else:
            await greenlet_spawn(raw.close)  # back to the pool

    async def _take(self) -> tuple[Any, float]:
        while self._idle:
            raw, since = self._idle.pop()
            if self._young(since):
                return raw, since
            await greenlet_spawn(raw.close)
        return await self._engine.raw_connection(), time.monotonic()

    def _young(self, since: float) -> bool:
        return time.monotonic() - since < self._recycle

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for raw, _ in idle:
            await greenlet_spawn(raw.close)
