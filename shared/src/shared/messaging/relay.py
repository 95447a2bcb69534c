"""Outbox relay: publishes a service's outbox to the bus in batches.

Safe as several replicas: only the holder of a PostgreSQL advisory lock publishes, so
two relays never publish the same rows at once and the order per key is kept; the
others wait to take over. A crash between publishing and marking rows sent publishes
them again on restart (allowed: consumers deduplicate through their inbox).

Pipelined: while the bus acknowledges batch N, the relay marks batch N-1 sent and
fetches batch N+1 (the rows after N's last id), so PostgreSQL and the broker work at
the same time. Batch N+1 goes out only after every record of batch N was acknowledged,
and a batch is marked sent only after its acknowledgement, so the order of the outbox
and at-least-once hold as without the pipeline. A row committed late (an id at or below
batch N's last that was not visible when N was read) is noticed by a count and goes out
before anything after it, as an unpipelined relay would send it. Rows are read and
marked with plain asyncpg statements (one `id = ANY($1)` UPDATE per batch, autocommit):
the relay needs the asyncpg driver."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Sequence
from typing import Any

import structlog
from sqlalchemy import Table, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.db import asyncpg_connection
from shared.messaging.bus import OutgoingRecord, Publisher
from shared.messaging.leadership import IdleWait, leadership, sleep_unless
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)
HEADERS = (("content-type", STRUCTURED_CONTENT_TYPE),)


class OutboxRelay:
    def __init__(self, engine: AsyncEngine, outbox: Table, publisher: Publisher, *,
                 service: str, batch_size: int = 5000, idle_seconds: float = 0.05,
                 max_idle_seconds: float = 0.4, replay_all_on_start: bool = False) -> None:
        self._engine, self._outbox, self._publisher = engine, outbox, publisher
        self._service = service
        self._batch_size, self._idle, self._max_idle = batch_size, idle_seconds, max_idle_seconds
        self._replay_all = replay_all_on_start
        self._lock_key = zlib.crc32(f"cairn-relay:{outbox.fullname}".encode())
        self.published = 0
        table = engine.dialect.identifier_preparer.format_table(outbox)
        columns = "id, topic, key, payload"
        # The oldest unpublished rows (the partial index on id WHERE published_at IS NULL).
        self._sql_oldest = (f"SELECT {columns} FROM {table} WHERE published_at IS NULL "
                            "ORDER BY id LIMIT $1")
        # The next rows after an unacknowledged batch, while that batch is in flight.
        self._sql_after = (f"SELECT {columns} FROM {table} WHERE published_at IS NULL "
                           "AND id > $1 ORDER BY id LIMIT $2")
        self._sql_unpublished_upto = (f"SELECT count(*) FROM {table} "
                                      "WHERE published_at IS NULL AND id <= $1")
        self._sql_mark = (f"UPDATE {table} SET published_at = now() "
                          "WHERE id = ANY($1::bigint[])")

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        try:
            async with leadership(self._engine, self._lock_key, stop) as lock_conn:
                if lock_conn is None:
                    return
                log.info("relay.leading", service=self._service)
                if self._replay_all:
                    await self._replay_everything(lock_conn)
                await self._publish_until(stop, lock_conn)
        finally:
            await self._publisher.stop()

    async def _publish_until(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> None:
        idle_ticks = 0
        idle = IdleWait(self._idle, self._max_idle)
        while not stop.is_set():
            published = self.published
            try:
                await lock_conn.execute(text("SELECT 1"))  # still holding the lock?
                full = await self._drain(stop, lock_conn)
            except Exception:
                log.exception("relay.batch_failed", service=self._service)
                await sleep_unless(stop, 1.0)
                continue
            if self.published != published:
                idle.published()
            if not full:
                idle_ticks += 1
                if idle_ticks % 20 == 1:
                    await self._report_backlog()
                await sleep_unless(stop, idle.next())

    async def publish_batch(self) -> int:
        """Publish the oldest unpublished rows (one batch, no pipeline); return how many
        were sent."""
        async with self._engine.connect() as conn:
            db = await asyncpg_connection(conn)
            rows = await db.fetch(self._sql_oldest, self._batch_size)
            if not rows:
                return 0
            await self._publisher.publish(_records(rows))
            await self._mark(db, rows)
        return len(rows)

    async def _drain(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> bool:
        """Publish full batches back to back until a batch comes back short (or `stop`);
        return True if the last batch was full (more may be waiting)."""
        async with self._engine.connect() as read_conn, self._engine.connect() as mark_conn:
            reader, marker = await asyncpg_connection(read_conn), await asyncpg_connection(mark_conn)
            rows = await reader.fetch(self._sql_oldest, self._batch_size)
            marking: asyncio.Task | None = None
            try:
                while rows:
                    full = len(rows) == self._batch_size
                    ahead = (asyncio.ensure_future(self._prepare_next(reader, rows, marking,
                                                                      lock_conn))
                             if full and not stop.is_set() else None)
                    try:
                        await self._publisher.publish(_records(rows))
                    except BaseException:
                        if ahead is not None:  # let its statements end, not cancelled midway
                            await asyncio.gather(ahead, return_exceptions=True)
                        raise
                    nxt = await ahead if ahead is not None else None
                    if marking is not None:
                        await marking  # the previous batch (done already if prefetched)
                    # Acknowledged: mark it sent while the next batch goes out. Yield once
                    # so the UPDATEs are on their way before the next batch is encoded.
                    marking = self._mark(marker, rows)
                    await asyncio.sleep(0)
                    if nxt is None:  # short batch, stopping, or rows committed late
                        await marking
                        marking = None
                        if not full or stop.is_set():
                            return full
                        nxt = await reader.fetch(self._sql_oldest, self._batch_size)
                    rows = nxt
                if marking is not None:
                    await marking
                    marking = None
                return False
            finally:
                if marking is not None:  # failing: still mark what the bus acknowledged
                    await asyncio.gather(asyncio.shield(marking), return_exceptions=True)

    async def _prepare_next(self, reader: Any, rows: Sequence[Any],
                            marking: asyncio.Task | None,
                            lock_conn: AsyncConnection) -> list | None:
        """While `rows` is being published (and the batch before it marked): check the
        lock and fetch the batch after it. None if rows committed late (an id at or below
        the in-flight batch that is not in it) must go first: the caller then fetches
        again from the oldest row once `rows` is marked."""
        last = rows[-1][0]
        steps = [lock_conn.execute(text("SELECT 1")),  # still holding the lock?
                 reader.fetch(self._sql_after, last, self._batch_size)]
        if marking is not None:  # shielded: a cancelled prefetch must not cancel a mark
            steps.append(asyncio.shield(marking))
        # All steps end before an error propagates: no statement may still be running on
        # `reader` when the caller hands its connection back.
        done = await asyncio.gather(*steps, return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        nxt = done[1]
        # Counted once the batch before is marked, and after the fetch: a late row this
        # count misses committed after the fetch, so a later row of its key (written
        # after it) is not in `nxt` either.
        if nxt and await reader.fetchval(self._sql_unpublished_upto, last) != len(rows):
            return None
        return nxt

    def _mark(self, db: Any, rows: Sequence[Any]) -> asyncio.Task:
        """Mark acknowledged rows sent (one UPDATE). The task is created here, so the
        statement goes out at the caller's next yield."""
        return asyncio.ensure_future(self._mark_ids(db, [r[0] for r in rows]))

    async def _mark_ids(self, db: Any, ids: list[int]) -> None:
        await db.execute(self._sql_mark, ids)
        self.published += len(ids)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(ids))

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


def _records(rows: Sequence[Any]) -> list[OutgoingRecord]:
    """asyncpg records (id, topic, key, payload) as bus records."""
    return [OutgoingRecord(topic, key.encode(), payload, HEADERS)
            for _, topic, key, payload in rows]
