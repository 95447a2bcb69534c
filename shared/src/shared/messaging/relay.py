"""Outbox relay: publishes a service's outbox to the bus in batches.

Safe as several replicas: only the holder of a PostgreSQL advisory lock publishes, so
two relays never publish the same rows at once and the order per key is kept; the
others wait to take over. A crash between publishing and marking rows sent publishes
them again on restart (allowed: consumers deduplicate through their inbox)."""

from __future__ import annotations

import asyncio
import zlib
from typing import Any

import structlog
from sqlalchemy import Table, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.messaging.bus import OutgoingRecord, Publisher
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)
HEADERS = (("content-type", STRUCTURED_CONTENT_TYPE),)


class OutboxRelay:
    def __init__(self, engine: AsyncEngine, outbox: Table, publisher: Publisher, *,
                 service: str, batch_size: int = 5000, idle_seconds: float = 0.05,
                 replay_all_on_start: bool = False) -> None:
        self._engine, self._outbox, self._publisher = engine, outbox, publisher
        self._service = service
        self._batch_size, self._idle = batch_size, idle_seconds
        self._replay_all = replay_all_on_start
        self._lock_key = zlib.crc32(f"cairn-relay:{outbox.fullname}".encode())
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        try:
            async with self._engine.connect() as lock_conn:
                # Autocommit: the lock is held by the session, never by an open transaction.
                await lock_conn.execution_options(isolation_level="AUTOCOMMIT")
                if not await self._lead(lock_conn, stop):
                    return
                log.info("relay.leading", service=self._service)
                try:
                    if self._replay_all:
                        await self._replay_everything(lock_conn)
                    await self._publish_until(stop, lock_conn)
                finally:
                    # The connection returns to the pool with its session: hand the lead on.
                    await lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"),
                                            {"k": self._lock_key})
        finally:
            await self._publisher.stop()

    async def _lead(self, lock_conn: AsyncConnection, stop: asyncio.Event) -> bool:
        """Wait to become the one publishing relay (session advisory lock)."""
        while not stop.is_set():
            got = (await lock_conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                           {"k": self._lock_key})).scalar()
            if got:
                return True
            await _sleep_unless(stop, 1.0)
        return False

    async def _publish_until(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> None:
        idle_ticks = 0
        while not stop.is_set():
            try:
                await lock_conn.execute(text("SELECT 1"))  # still holding the lock?
                sent = await self.publish_batch()
            except Exception:
                log.exception("relay.batch_failed", service=self._service)
                await _sleep_unless(stop, 1.0)
                continue
            if sent < self._batch_size:
                idle_ticks += 1
                if idle_ticks % 20 == 1:
                    await self._report_backlog()
                await _sleep_unless(stop, self._idle)

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows; return how many were sent."""
        o = self._outbox
        async with self._engine.connect() as conn:
            rows = (await conn.execute(
                select(o.c.id, o.c.topic, o.c.key, o.c.payload)
                .where(o.c.published_at.is_(None)).order_by(o.c.id).limit(self._batch_size)
            )).all()
            if not rows:
                return 0
            await self._publisher.publish([_record(r) for r in rows])
            await conn.execute(update(o).where(o.c.id.in_([r.id for r in rows]))
                               .values(published_at=func.now()))
            await conn.commit()
        self.published += len(rows)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        return len(rows)

    async def _replay_everything(self, conn: AsyncConnection) -> None:
        """The in-process bus forgets on restart: give it the whole outbox again."""
        o = self._outbox
        last = 0
        while True:
            rows = (await conn.execute(
                select(o.c.id, o.c.topic, o.c.key, o.c.payload).where(o.c.id > last)
                .where(o.c.published_at.is_not(None)).order_by(o.c.id).limit(self._batch_size)
            )).all()
            if not rows:
                return
            await self._publisher.publish([_record(r) for r in rows])
            last = rows[-1].id

    async def _report_backlog(self) -> None:
        o = self._outbox
        async with self._engine.connect() as conn:
            backlog = (await conn.execute(select(func.count()).select_from(o)
                                          .where(o.c.published_at.is_(None)))).scalar_one()
        OUTBOX_BACKLOG.labels(self._service).set(backlog)


def _record(row: Any) -> OutgoingRecord:
    return OutgoingRecord(row.topic, row.key.encode(), row.payload, HEADERS)


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
