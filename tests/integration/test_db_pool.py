"""shared.db.pooled_driver_connection on real PostgreSQL: the bare asyncpg connection of
one of the engine's pooled connections, handed back after use, and a connection the
server dropped is replaced rather than handed out again."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from shared.db import pooled_driver_connection

pytestmark = pytest.mark.integration


async def test_the_connection_goes_back_to_the_pool_and_a_dropped_one_is_replaced(
        database_url):
    engine = create_async_engine(database_url, pool_size=1, max_overflow=0, pool_timeout=5)
    try:
        for _ in range(3):  # one connection in the pool: each use handed it back
            async with pooled_driver_connection(engine) as db:
                first = await db.fetchval("SELECT pg_backend_pid()")
        assert engine.sync_engine.pool.checkedout() == 0
        admin = await asyncpg.connect(str(engine.url.set(drivername="postgresql")
                                          .render_as_string(hide_password=False)))
        try:
            await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        with pytest.raises(Exception):  # noqa: B017 (asyncpg's error depends on timing)
            async with pooled_driver_connection(engine) as db:
                await db.fetchval("SELECT 1")
        async with pooled_driver_connection(engine) as db:
            assert await db.fetchval("SELECT pg_backend_pid()") != first
        assert engine.sync_engine.pool.checkedout() == 0
    finally:
        await engine.dispose()
