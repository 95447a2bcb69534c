"""Relay for a table that is its own outbox (DESIGN §3: the ledger's entries).

Rows are never marked: the relay keeps a watermark, the last (xid, seq) it published,
in a `relay_positions` row of the service's schema, and publishes rows after it in
(xid, seq) order. Only rows of transactions older than every transaction still running
(`xid < pg_snapshot_xmin(pg_current_snapshot())`) are read, so no row can ever appear
behind the watermark: a later transaction always has a larger xid. Writers lock (with
advisory locks, which assign no xid) before their first write, so the rows of one key
commit in xid order and keep their order on the bus.

As with the outbox relay, only the holder of an advisory lock publishes, and a crash
between publishing and saving the watermark publishes those rows again (consumers
deduplicate through their inbox).

Rows are read and the watermark saved with plain asyncpg statements, each committing on
its own (the watermark is written only after the broker acknowledged the batch): the
relay needs the asyncpg driver."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.db import asyncpg_connection
from shared.messaging.bus import OutgoingRecord, Publisher
from shared.messaging.leadership import IdleWait, leadership, sleep_unless
from shared.metrics import OUTBOX_BACKLOG, OUTBOX_PUBLISHED

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class LogSource:
    """What the relay reads: `select` (asyncpg SQL: $1 xid, an int as asyncpg binds xid8,
    $2 seq, $3 limit) returns rows with columns `xid` and `seq` and whatever `to_records`
    needs; `to_records` turns one batch of those rows (asyncpg Records) into bus records,
    in the same order."""

    name: str  # the watermark's key in relay_positions
    schema: str
    select: str
    to_records: Callable[[Sequence[Any]], list[OutgoingRecord]]


class LogRelay:
    def __init__(self, engine: AsyncEngine, source: LogSource, publisher: Publisher, *,
                 service: str, batch_size: int = 5000, idle_seconds: float = 0.05,
                 max_idle_seconds: float = 0.4, replay_all_on_start: bool = False) -> None:
        self._engine, self._source, self._publisher = engine, source, publisher
        self._max_idle = max_idle_seconds
        # None: read the saved watermark first. The in-process bus forgets on restart, so
        # there the relay starts from the beginning (consumers' inboxes absorb repeats).
        self._position: tuple[int, int] | None = (0, 0) if replay_all_on_start else None
        self._service, self._batch_size, self._idle = service, batch_size, idle_seconds
        self._lock_key = zlib.crc32(f"cairn-log-relay:{source.schema}.{source.name}".encode())
        positions = f'"{source.schema}".relay_positions'
        self._sql_position = f"SELECT xid, seq FROM {positions} WHERE name = $1"
        self._sql_save = (
            f"INSERT INTO {positions} (name, xid, seq) VALUES ($1, $2::xid8, $3) "
            "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, seq = excluded.seq, "
            "updated_at = now()")
        self.published = 0

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        try:
            async with leadership(self._engine, self._lock_key, stop) as lock_conn:
                if lock_conn is None:
                    return
                log.info("log_relay.leading", service=self._service, log=self._source.name)
                await self._publish_until(stop)
        finally:
            await self._publisher.stop()

    async def _publish_until(self, stop: asyncio.Event) -> None:
        idle = IdleWait(self._idle, self._max_idle)
        while not stop.is_set():
            try:
                sent = await self.publish_batch()
            except Exception:
                log.exception("log_relay.batch_failed", service=self._service)
                await sleep_unless(stop, 1.0)
                continue
            if sent:
                idle.published()
            if sent < self._batch_size:
                await sleep_unless(stop, idle.next())

    async def publish_batch(self) -> int:
        """Publish the next rows after the watermark; return how many were sent."""
        async with self._engine.connect() as conn:
            db = await asyncpg_connection(conn)
            if self._position is None:
                row = await db.fetchrow(self._sql_position, self._source.name)
                self._position = (int(row[0]), row[1]) if row else (0, 0)
            xid, seq = self._position
            rows = await db.fetch(self._source.select, xid, seq, self._batch_size)
            if not rows:
                return 0
            await self._publisher.publish(self._source.to_records(rows))
            # Saved only once the broker acknowledged every record (at-least-once).
            last = (int(rows[-1]["xid"]), rows[-1]["seq"])
            await db.execute(self._sql_save, self._source.name, *last)
        self._position = last
        self.published += len(rows)
        OUTBOX_PUBLISHED.labels(self._service).inc(len(rows))
        if len(rows) < self._batch_size:
            OUTBOX_BACKLOG.labels(self._service).set(0)
        return len(rows)


def after_watermark(table: str, columns: Sequence[str]) -> str:
    """The standard `select` of a LogSource over `table` (which has xid8 `xid`, `seq`):
    `columns` first, in order, then `xid` and `seq`."""
    return (f"SELECT {', '.join(columns)}, xid, seq FROM {table} "
            "WHERE (xid, seq) > ($1::xid8, $2) "
            "AND xid < pg_snapshot_xmin(pg_current_snapshot()) "
            "ORDER BY xid, seq LIMIT $3")

