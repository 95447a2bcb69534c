"""One publisher at a time: the holder of a PostgreSQL session advisory lock leads, the
other replicas wait to take over. Used by both relays."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


@contextlib.asynccontextmanager
async def leadership(engine: AsyncEngine, key: int,
                     stop: asyncio.Event) -> AsyncIterator[AsyncConnection | None]:
    """Yields the connection holding the lock once this replica leads, or None if `stop`
    came first. The lock is released on exit: the connection goes back to the pool with
    its session, so it must not keep the lead."""
    async with engine.connect() as conn:
        # Autocommit: the lock is held by the session, never by an open transaction.
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        while not stop.is_set():
            if (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                   {"k": key})).scalar():
                try:
                    yield conn
                finally:
                    await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                return
            await sleep_unless(stop, 1.0)
        yield None


async def sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
