"""Relay for a table published by position: a service's outbox (shared.messaging.relay)
and a table that is its own outbox (DESIGN §3: the ledger's entries).

Rows are never marked: the relay keeps a watermark, the last (xid, seq) it published,
in a `relay_positions` row of the service's schema, and publishes rows after it in
(xid, seq) order. Only rows of transactions older than every transaction still running
(`xid < pg_snapshot_xmin(pg_current_snapshot())`) are read, so no row can ever appear
behind the watermark: a later transaction always has a larger xid. Writers lock (with
advisory locks, which assign no xid) before their first write, so the rows of one key
commit in xid order and keep their order on the bus. A transaction that stays open
after its first write (a long bulk load, a session idle in a transaction) holds back
every relay of the database until it ends: it may still write rows that go before.

As with any relay, only the holder of an advisory lock publishes, and a crash between
publishing and saving the watermark publishes those rows again (consumers deduplicate
through their inbox).

Pipelined: while the bus acknowledges batch N, the relay saves N-1's watermark, checks
that it still holds the lock and reads batch N+1 (the rows after N's last); N+1 goes out
only once every record of N was acknowledged, and a watermark is saved only after its
batch's acknowledgement. No row can appear behind a batch read (above), so reading
ahead needs no re-check.

Rows are read and the watermark saved with plain asyncpg statements, each committing on
its own: the relay needs the asyncpg driver."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.db import asyncpg_connection
from shared.messaging.bus import OutgoingRecord, Publisher
from shared.messaging.leadership import IdleWait, leadership, sleep_unless
from shared.metrics import (
    BACKLOG_COUNTED_UP_TO,
    OUTBOX_BACKLOG,
    OUTBOX_OLDEST,
    OUTBOX_PUBLISHED,
)

log = structlog.get_logger(__name__)

# For this transaction, the planner may not read the table but through an index.
INDEX_ONLY = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off"


@dataclass(frozen=True)
class LogSource:
    """What the relay reads: the rows of `table` (which has xid8 `xid` and the bigint
    column `seq`, ordering one transaction's rows, with an index on (xid, seq)) after the
    watermark, as `columns`, then `xid` and `seq`; `to_records` turns one batch of those
    rows (asyncpg Records) into bus records, in the same order. `written_at`: the
    timestamptz column that dates a row (the backlog's age)."""

    name: str  # the watermark's key in relay_positions
    schema: str
    table: str  # as SQL names it
    columns: tuple[str, ...]
    to_records: Callable[[Sequence[Any]], list[OutgoingRecord]]
    written_at: str
    seq: str = "seq"
    lock_name: str = ""  # what names the advisory lock of its leader; "" for the default

    @property
    def lock_key(self) -> int:
        return zlib.crc32((self.lock_name or f"cairn-log-relay:{self.schema}.{self.name}")
                          .encode())

    def _after(self) -> str:
        return f"FROM {self.table} WHERE (xid, {self.seq}) > ($1::xid8, $2)"

    @property
    def select(self) -> str:
        """asyncpg SQL ($1 xid, an int as asyncpg binds xid8; $2 seq; $3 limit): the next
        rows the relay may publish, those of transactions older than every one still
        open (module docstring)."""
        return (f"SELECT {', '.join(self.columns)}, xid, {self.seq} AS seq {self._after()} "
                "AND xid < pg_snapshot_xmin(pg_current_snapshot()) "
                f"ORDER BY xid, {self.seq} LIMIT $3")

    @property
    def backlog(self) -> str:
        """asyncpg SQL ($1 xid, $2 seq, $3 at most): how many rows are after the
        watermark, counting no further than $3 (each costs ~1 µs: a relay catching up on
        a million rows would spend a second of every report counting them), and the age
        in seconds of the oldest of those. Run only with the (xid, seq) index forced
        (LogRelay._after_watermark): planned for any watermark, as a prepared statement
        is after a few runs, PostgreSQL counts a third of the table after it and reads
        the whole table (measured: a sequential scan, or a bitmap scan and a sort)."""
        return (f"SELECT count(*), extract(epoch FROM now() - min(written_at))::float8 "
                f"FROM (SELECT {self.written_at} AS written_at {self._after()} "
                f"ORDER BY xid, {self.seq} LIMIT $3) AS waiting")

    @property
    def pending(self) -> str:
        """asyncpg SQL ($1 xid, $2 seq): a row when any committed row is after the
        watermark, readable yet or not; none otherwise. The first in index order: as
        `EXISTS (...)` it was planned as a sequential scan of the whole table, which
        passes every published row before the first one after the watermark."""
        return f"SELECT 1 {self._after()} ORDER BY xid, {self.seq} LIMIT 1"


class LogRelay:
    def __init__(self, engine: AsyncEngine, source: LogSource, publisher: Publisher, *,
                 service: str, batch_size: int = 5000, idle_seconds: float = 0.05,
                 max_idle_seconds: float = 0.4, replay_all_on_start: bool = False,
                 report_seconds: float = 5.0,
                 count_backlog_up_to: int = BACKLOG_COUNTED_UP_TO) -> None:
        self._engine, self._source, self._publisher = engine, source, publisher
        self._report_seconds, self._count_up_to = report_seconds, count_backlog_up_to
        self._max_idle = max_idle_seconds
        # None: read the saved watermark first. The in-process bus forgets on restart, so
        # there the relay starts from the beginning (consumers' inboxes absorb repeats).
        self._position: tuple[int, int] | None = (0, 0) if replay_all_on_start else None
        self._service, self._batch_size, self._idle = service, batch_size, idle_seconds
        self._lock_key = source.lock_key
        self._sql_select, self._sql_backlog = source.select, source.backlog
        self._sql_pending = source.pending
        positions = f'"{source.schema}".relay_positions'
        self._sql_position = f"SELECT xid, seq FROM {positions} WHERE name = $1"
        self._sql_save = (
            f"INSERT INTO {positions} (name, xid, seq) VALUES ($1, $2::xid8, $3) "
            "ON CONFLICT (name) DO UPDATE SET xid = excluded.xid, seq = excluded.seq, "
            "updated_at = now()")
        self.published = 0
        self.polls = 0  # reads of what follows the watermark that began a drain

    async def run(self, stop: asyncio.Event) -> None:
        await self._publisher.start()
        try:
            async with leadership(self._engine, self._lock_key, stop) as lock_conn:
                if lock_conn is None:
                    return
                log.info("log_relay.leading", service=self._service, log=self._source.name)
                reporting = asyncio.ensure_future(self._report_until(stop))
                try:
                    await self._publish_until(stop, lock_conn)
                finally:
                    reporting.cancel()
                    await asyncio.gather(reporting, return_exceptions=True)
        finally:
            await self._publisher.stop()

    async def _report_until(self, stop: asyncio.Event) -> None:
        """Every `report_seconds` while leading: the rows after the saved watermark, up to
        `count_backlog_up_to`, and the age of the oldest (cairn_outbox_backlog,
        cairn_outbox_oldest_unpublished_seconds). Rows a transaction still open holds back
        (module docstring) count as well, so a relay held back shows as one that is
        behind."""
        labels = (self._service, self._source.name)
        while not stop.is_set():
            backlog = await self._after_watermark(self._sql_backlog, self._count_up_to,
                                                  by_index=True)
            if backlog is not None:
                count, age = backlog
                OUTBOX_BACKLOG.labels(*labels).set(count)
                OUTBOX_OLDEST.labels(*labels).set(age or 0.0)
            await sleep_unless(stop, self._report_seconds)

    async def _after_watermark(self, sql: str, *more: Any, by_index: bool = False) -> Any:
        """The row `sql` ($1 xid, $2 seq, then `more`) gives for the saved watermark; None
        before the watermark is known or when it cannot be read (logged: only the metrics
        or the poll's pace depend on it). `by_index`: PostgreSQL may only read the (xid, seq)
        index, in a transaction of its own (the rows after the watermark are few, but a
        plan made for any watermark expects a third of the table)."""
        if self._position is None:
            return None
        try:
            async with self._engine.connect() as conn:
                db = await asyncpg_connection(conn)
                if not by_index:
                    return await db.fetchrow(sql, *self._position, *more)
                async with db.transaction(readonly=True):
                    await db.execute(INDEX_ONLY)
                    return await db.fetchrow(sql, *self._position, *more)
        except Exception:
            log.warning("log_relay.watermark_query_failed", service=self._service,
                        log=self._source.name, exc_info=True)
            return None

    async def _publish_until(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> None:
        idle = IdleWait(self._idle, self._max_idle)
        while not stop.is_set():
            try:
                sent, full = await self._drain(stop, lock_conn)
            except Exception:
                log.exception("log_relay.batch_failed", service=self._service,
                              log=self._source.name)
                await sleep_unless(stop, 1.0)
                continue
            if sent or await self._held_back():
                idle.published()
            if not full:
                await sleep_unless(stop, idle.next())

    async def _held_back(self) -> bool:
        """Rows are there but none could be read: a transaction still open holds them
        back (module docstring). The relay then keeps polling at its shortest wait instead
        of backing off: on results day a batch's transaction holds the others' rows for
        about a second at a time, and they go out as soon as it ends."""
        return await self._after_watermark(self._sql_pending) is not None

    async def _drain(self, stop: asyncio.Event, lock_conn: AsyncConnection) -> tuple[int, bool]:
        """Publish full batches back to back until one comes back short (or `stop`);
        return how many rows went out and whether the last batch was full."""
        async with self._engine.connect() as read_conn, self._engine.connect() as save_conn:
            reader, saver = await asyncpg_connection(read_conn), await asyncpg_connection(save_conn)
            self.polls += 1
            rows = await reader.fetch(self._sql_select, *await self._start(reader),
                                      self._batch_size)
            sent, full, saving = 0, False, None
            try:
                while rows:
                    full = len(rows) == self._batch_size
                    ahead = (asyncio.ensure_future(self._read_ahead(reader, rows, lock_conn))
                             if full and not stop.is_set() else None)
                    try:
                        await self._publisher.publish(self._source.to_records(rows))
                    except BaseException:
                        if ahead is not None:  # let its statements end, not cancelled midway
                            await asyncio.gather(ahead, return_exceptions=True)
                        raise
                    if saving is not None:
                        await saving  # the batch before's (done already, as a rule)
                    # Acknowledged: its watermark is saved while the next batch goes out.
                    saving = asyncio.ensure_future(self._save(saver, rows))
                    sent += len(rows)
                    rows = await ahead if ahead is not None else []
                if saving is not None:
                    await saving
                    saving = None
                return sent, full
            finally:
                if saving is not None:  # failing: still save what the bus acknowledged
                    await asyncio.gather(asyncio.shield(saving), return_exceptions=True)

    async def _read_ahead(self, reader: Any, rows: Sequence[Any],
                          lock_conn: AsyncConnection) -> list:
        """While `rows` is being published: check the lock and read the batch after it.
        Both statements end before an error propagates: none may still be running on
        `reader` when the caller hands its connection back."""
        last = rows[-1]
        done = await asyncio.gather(
            lock_conn.execute(text("SELECT 1")),  # still holding the lock?
            reader.fetch(self._sql_select, int(last["xid"]), last["seq"], self._batch_size),
            return_exceptions=True)
        for outcome in done:
            if isinstance(outcome, BaseException):
                raise outcome
        return done[1]

    async def _start(self, db: Any) -> tuple[int, int]:
        if self._position is None:
            row = await db.fetchrow(self._sql_position, self._source.name)
            self._position = (int(row[0]), row[1]) if row else (0, 0)
        return self._position

    async def _save(self, db: Any, rows: Sequence[Any]) -> None:
        last = (int(rows[-1]["xid"]), rows[-1]["seq"])
        await db.execute(self._sql_save, self._source.name, *last)
        self._position = last
        self.published += len(rows)
        OUTBOX_PUBLISHED.labels(self._service, self._source.name).inc(len(rows))
