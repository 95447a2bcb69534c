"""A stopping process gives its relay and consumers settings.shutdown_grace_seconds to
finish, then cancels them: with Kafka away, a Kafka client's stop never returns, and the
process would otherwise outlive its SIGTERM (seen with `ledger consumer`)."""

from __future__ import annotations

import asyncio
import time

from ledger.bootstrap import definition
from shared.runtime import ServiceContext
from shared.settings import ServiceSettings


def context(grace: float) -> ServiceContext:
    settings = ServiceSettings(CAIRN_SHUTDOWN_GRACE_SECONDS=grace)
    return ServiceContext(definition(), settings, engine=None)  # type: ignore[arg-type]


def test_a_worker_that_never_stops_is_cancelled_after_the_grace() -> None:
    async def scenario() -> tuple[float, bool, bool]:
        ctx = context(0.2)
        stuck_in_stop = asyncio.Event()

        async def worker() -> None:  # like a consumer whose Kafka client's stop hangs
            await ctx._stop.wait()
            stuck_in_stop.set()
            await asyncio.Event().wait()

        task = asyncio.create_task(worker())
        ctx._tasks.append(task)
        await asyncio.sleep(0)
        started = time.monotonic()
        await asyncio.wait_for(ctx.stop_workers(), 5)  # without the grace: forever
        return time.monotonic() - started, stuck_in_stop.is_set(), task.cancelled()

    took, was_stuck, cancelled = asyncio.run(scenario())
    assert was_stuck and cancelled
    assert 0.2 <= took < 2


def test_workers_that_stop_are_waited_for() -> None:
    async def scenario() -> bool:
        ctx = context(5)
        finished = asyncio.Event()

        async def worker() -> None:
            await ctx._stop.wait()
            await asyncio.sleep(0.05)  # finishing its batch
            finished.set()

        ctx._tasks.append(asyncio.create_task(worker()))
        await asyncio.sleep(0)
        await ctx.stop_workers()
        return finished.is_set()

    assert asyncio.run(scenario())
