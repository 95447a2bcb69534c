"""One publisher at a time: the holder of a PostgreSQL session advisory lock leads, the
other replicas wait to take over; and how long a leader waits between polls. Used by
both relays."""

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


class IdleWait:
    """How long a relay waits after a poll that left nothing to publish: `first` right
    after rows were published, then twice as long after each empty poll, up to
    `longest`. A quiet ledger is then polled a few times a second instead of twenty
    (each poll is a PostgreSQL round trip and wakes two processes: on these machines
    the idle relays were ~5% of a core), and the first row after a quiet spell waits at
    most `longest`. Under load every poll finds rows and the wait stays `first`."""

    def __init__(self, first: float, longest: float) -> None:
        self._first, self._longest = first, max(first, longest)
        self._next = first

    def published(self) -> None:
        """Rows went out: the next wait is `first` again."""
        self._next = self._first

    def next(self) -> float:
        wait, self._next = self._next, min(self._next * 2, self._longest)
        return wait
