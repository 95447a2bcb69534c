"""Consumer loop: at-least-once from the bus, exactly-once in effect.

A batch is applied in one database transaction that also records each event id in the
inbox; the offsets are committed to the bus only after that transaction commits. A
redelivered event finds its id in the inbox and is skipped. An event whose handler
fails on its own is parked in the dead-letter table (with the inbox row, in the same
transaction) so that one bad event cannot stop a projection."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

import structlog
from sqlalchemy import Table, delete, insert
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from shared.contracts.envelope import CloudEvent, decode_event
from shared.domain.errors import RuleViolation
from shared.messaging.bus import DeliveredRecord, Subscription
from shared.metrics import CONSUMER_LAG, EVENTS_CONSUMED

log = structlog.get_logger(__name__)


class Projection(Protocol):
    """What a consumer applies: a projection or a process step, inside the caller's
    transaction. `name` keys the inbox and names the consumer group."""

    name: str
    topics: tuple[str, ...]

    async def apply(self, conn: AsyncConnection, event: CloudEvent) -> None: ...

    async def reset(self, conn: AsyncConnection) -> None:
        """Forget everything this projection derived (before a rebuild from offset zero)."""


# Optional, on a projection:
# - `async def apply_batch(conn, events)`: apply a fetched batch at once (one call per
#   batch, in order) rather than event by event; on failure the loop falls back to
#   `apply` one event at a time, as for any projection.
# - `idempotent = True`: applying an event again changes nothing (the projection derives
#   from the source of truth, not from the event), so no inbox row is written for it.


class ConsumerLoop:
    def __init__(self, engine: AsyncEngine, subscription: Subscription, projection: Projection,
                 *, inbox: Table, dead_letter: Table, service: str, batch_size: int = 500) -> None:
        self._engine, self._sub, self._projection = engine, subscription, projection
        self._inbox, self._dead = inbox, dead_letter
        self._service, self._batch_size = service, batch_size
        self.applied = 0
        self._busy = False
        self._rebuild_requested = asyncio.Event()
        self._rebuilt = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        await self._sub.start()
        try:
            while not stop.is_set():
                if self._rebuild_requested.is_set():
                    await self._do_rebuild()
                records = await self._sub.fetch(self._batch_size, timeout=0.2)
                if records:
                    self._busy = True
                    try:
                        await self.apply_batch(records)
                        await self._sub.commit(records)  # only now: the effect is durable
                    except Exception:  # e.g. the database is away: read these again later
                        log.exception("consumer.batch_not_applied", consumer=self._projection.name)
                        await self._sub.rewind_to_committed()
                        await asyncio.sleep(1.0)
                    finally:
                        self._busy = False
                else:
                    CONSUMER_LAG.labels(self._service, self._projection.name).set(
                        await self._sub.lag())
        finally:
            await self._sub.stop()

    async def caught_up(self) -> bool:
        """Nothing in flight and nothing left to read (as of now)."""
        return not self._busy and not self._rebuild_requested.is_set() \
            and await self._sub.lag() == 0

    async def rebuild(self) -> None:
        """Reset the projection and read every topic again from offset zero; returns
        once the reset is done (the replay then proceeds in the loop)."""
        self._rebuilt.clear()
        self._rebuild_requested.set()
        await self._rebuilt.wait()

    async def _do_rebuild(self) -> None:
        async with self._engine.begin() as conn:
            await self._projection.reset(conn)
            await conn.execute(delete(self._inbox)
                               .where(self._inbox.c.consumer == self._projection.name))
        await self._sub.seek_to_beginning()
        self._rebuild_requested.clear()
        self._rebuilt.set()
        log.info("consumer.rebuild_started", consumer=self._projection.name)

    async def apply_batch(self, records: Sequence[DeliveredRecord]) -> None:
        try:
            async with self._engine.begin() as conn:
                if hasattr(self._projection, "apply_batch"):
                    await self._apply_together(conn, records)
                    return
                for record in records:
                    await self._apply_one(conn, record)
        except Exception:
            log.warning("consumer.batch_failed_retrying_singly",
                        consumer=self._projection.name, size=len(records), exc_info=True)
            for record in records:
                await self._apply_alone(record)

    @property
    def _idempotent(self) -> bool:
        return bool(getattr(self._projection, "idempotent", False))

    async def _apply_together(self, conn: AsyncConnection,
                              records: Sequence[DeliveredRecord]) -> None:
        events = [decode_event(record.value) for record in records]
        if not self._idempotent:
            new = set((await conn.execute(
                pg_insert(self._inbox).values([{"consumer": self._projection.name,
                                                "event_id": e.id} for e in events])
                .on_conflict_do_nothing().returning(self._inbox.c.event_id))).scalars())
            firsts = []
            for event in events:  # an id twice in one batch: its first only
                if event.id in new:
                    new.discard(event.id)
                    firsts.append(event)
            duplicates, events = len(events) - len(firsts), firsts
            if duplicates:
                EVENTS_CONSUMED.labels(self._service, self._projection.name,
                                       "duplicate").inc(duplicates)
        await self._projection.apply_batch(conn, events)  # type: ignore[attr-defined]
        self.applied += len(events)
        EVENTS_CONSUMED.labels(self._service, self._projection.name, "applied").inc(len(events))

    async def _apply_one(self, conn: AsyncConnection, record: DeliveredRecord) -> None:
        event = decode_event(record.value)
        fresh = True if self._idempotent else (await conn.execute(
            pg_insert(self._inbox).values(consumer=self._projection.name, event_id=event.id)
            .on_conflict_do_nothing().returning(self._inbox.c.event_id)
        )).first()
        if fresh is None:
            EVENTS_CONSUMED.labels(self._service, self._projection.name, "duplicate").inc()
            return
        with structlog.contextvars.bound_contextvars(event_id=event.id, event_type=event.type):
            await self._projection.apply(conn, event)
        self.applied += 1
        EVENTS_CONSUMED.labels(self._service, self._projection.name, "applied").inc()

    async def _apply_alone(self, record: DeliveredRecord) -> None:
        try:
            async with self._engine.begin() as conn:
                await self._apply_one(conn, record)
        except Exception as error:  # park it, keep the projection moving
            log.error("consumer.dead_letter", consumer=self._projection.name,
                      topic=record.topic, partition=record.partition, offset=record.offset,
                      exc_info=True)
            event_id = _event_id_or_none(record.value)
            async with self._engine.begin() as conn:
                if event_id is not None:
                    await conn.execute(pg_insert(self._inbox).values(
                        consumer=self._projection.name, event_id=event_id
                    ).on_conflict_do_nothing())
                await conn.execute(insert(self._dead).values(
                    consumer=self._projection.name, event_id=event_id, topic=record.topic,
                    partition=record.partition, offset=record.offset,
                    error=_reason(error)[:2000], payload=record.value))
            EVENTS_CONSUMED.labels(self._service, self._projection.name, "dead_letter").inc()


def _reason(error: Exception) -> str:
    """What the dead-letter row says: the exception's kind, a broken rule's code (a
    machine-readable reason, as the HTTP edge gives), and its message."""
    code = f" {error.code}" if isinstance(error, RuleViolation) else ""
    return f"{type(error).__name__}{code}: {error}"


def _event_id_or_none(raw: bytes) -> str | None:
    try:
        return decode_event(raw).id
    except Exception:
        return None
