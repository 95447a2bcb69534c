"""shared.db.HeldConnections on real PostgreSQL: one of the engine's pooled connections,
kept between uses (no check-out per query), never more than `keep` of them; a
connection the server dropped is replaced rather than used again; an old one goes back
to the pool; `close` hands them all back."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import HeldConnections

pytestmark = pytest.mark.integration


@pytest.fixture
async def engine(database_url):
    engine = create_async_engine(database_url, pool_size=3, max_overflow=0, pool_timeout=5)
    yield engine
    await engine.dispose()


def checked_out(engine) -> int:
    return engine.sync_engine.pool.checkedout()


async def backend(held: HeldConnections) -> int:
    async with held.connection() as db:
        return await db.fetchval("SELECT pg_backend_pid()")


async def test_kept_between_uses_and_handed_back_on_close(engine) -> None:
    held = HeldConnections(engine, keep=1)
    pids = {await backend(held) for _ in range(3)}
    assert len(pids) == 1 and checked_out(engine) == 1  # the same one, still held
    await held.close()
    assert checked_out(engine) == 0


async def test_never_more_than_keep(engine) -> None:
    held = HeldConnections(engine, keep=1)

    async def slow() -> None:
        async with held.connection() as db:
            await db.fetchval("SELECT pg_sleep(0.2)")

    await asyncio.gather(slow(), slow(), slow())  # three at once: three connections
    assert checked_out(engine) == 1  # two went back to the pool after use
    await held.close()


async def test_a_dropped_connection_is_replaced(engine) -> None:
    held = HeldConnections(engine, keep=1)
    first = await backend(held)
    admin = await asyncpg.connect(str(engine.url.set(drivername="postgresql")
                                      .render_as_string(hide_password=False)))
    try:
        await admin.fetchval("SELECT pg_terminate_backend($1)", first)
    finally:
        await admin.close()
    with pytest.raises(Exception):  # noqa: B017 (asyncpg's error depends on timing)
        await backend(held)
    assert checked_out(engine) == 0  # invalidated, not kept
    assert await backend(held) != first
    await held.close()


async def test_an_old_connection_goes_back_to_the_pool(engine) -> None:
    held = HeldConnections(engine, keep=3, recycle_seconds=0)
    await backend(held)
    assert checked_out(engine) == 0
