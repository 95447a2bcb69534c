"""The ledger's chain locks on real PostgreSQL (adapters.entries.lock_learners): one per
learner, so writers of different learners never wait for each other (two results-day
batches write at once) while two writers of one learner's chain do (R-LG-4)."""

from __future__ import annotations

import asyncpg
import pytest

from ledger.adapters.entries import lock_learners
from shared.db import asyncpg_connection
from tests.plugins.services import unique

pytestmark = pytest.mark.integration


async def _try_lock(engine, learner_ids: list[str]) -> None:
    """lock_learners in a transaction of its own that gives up after 300 ms of waiting."""
    async with engine.connect() as conn:
        db = await asyncpg_connection(conn)
        async with db.transaction():
            await db.execute("SET LOCAL lock_timeout = '300ms'")
            await lock_learners(db, learner_ids)


async def test_a_learner_lock_holds_up_only_that_learners_writers(engine):
    held, others = unique("L"), [unique("L") for _ in range(5_000)]
    async with engine.connect() as conn:
        db = await asyncpg_connection(conn)
        async with db.transaction():
            await lock_learners(db, [held])
            await _try_lock(engine, others)  # 5,000 other learners: no wait at all
            with pytest.raises(asyncpg.LockNotAvailableError):
                await _try_lock(engine, [*others, held])
    await _try_lock(engine, [held])  # released with the holder's transaction
