"""The consumer loop on real PostgreSQL and Kafka: exactly-once effect through the inbox,
offsets committed only after the effect is durable, poison events parked, replay from
offset zero."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import Column, Integer, Table, Text, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from shared.contracts import encode_event, new_event
from shared.contracts.envelope import STRUCTURED_CONTENT_TYPE
from shared.contracts.events import InstitutionRegisteredV1
from shared.messaging.bus import OutgoingRecord
from shared.messaging.consumer import ConsumerLoop
from shared.messaging.kafka_bus import KafkaBus
from tests.plugins.services import eventually

pytestmark = pytest.mark.integration


class Tally:
    """A projection that writes one row per event it applies (a duplicate would violate
    the primary key and fail loudly)."""

    def __init__(self, table: Table, topic: str, *, poison: int | None = None,
                 gate: asyncio.Event | None = None) -> None:
        self.table, self.topics, self.name = table, (topic,), f"tally-{uuid.uuid4().hex[:6]}"
        self.poison, self.gate = poison, gate

    async def apply(self, conn, event) -> None:
        n = event.data["revision"]
        if n == self.poison:
            raise ValueError("cannot apply this one")
        if self.gate is not None and n == 40:
            await self.gate.wait()  # hold the batch's transaction open mid-way
        await conn.execute(insert(self.table).values(event_id=event.id, n=n))

    async def reset(self, conn) -> None:
        await conn.execute(delete(self.table))


class BatchTally(Tally):
    """The same, applied a batch at a time (`apply_batch`); with `idempotent`, an upsert
    that may see an event again."""

    def __init__(self, *args, idempotent: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.idempotent, self.batches = idempotent, 0

    async def apply_batch(self, conn, events) -> None:
        if any(e.data["revision"] == self.poison for e in events):
            raise ValueError("cannot apply this one")
        self.batches += 1
        if events:
            statement = pg_insert(self.table).values(
                [{"event_id": e.id, "n": e.data["revision"]} for e in events])
            await conn.execute(statement.on_conflict_do_nothing() if self.idempotent
                               else statement)


def events(n: int):
    return [new_event(InstitutionRegisteredV1(
        institution_id="m", revision=i, name="M", country="GB", framework="FHEQ",
        awarding_powers={"framework": "FHEQ", "max_level": 8})) for i in range(n)]


async def publish(bus: KafkaBus, topic: str, evs) -> None:
    publisher = bus.publisher()
    await publisher.start()
    try:
        await publisher.publish([OutgoingRecord(topic, b"m", encode_event(e),
                                                (("content-type", STRUCTURED_CONTENT_TYPE),))
                                 for e in evs])
    finally:
        await publisher.stop()


@pytest.fixture
async def setup(engine, scratch_messaging, kafka_bootstrap):
    metadata, (_, inbox, dead) = scratch_messaging
    table = Table(f"tally_{uuid.uuid4().hex[:6]}", metadata,
                  Column("event_id", Text, primary_key=True), Column("n", Integer))
    async with engine.begin() as conn:
        await conn.run_sync(table.create)
    bus = KafkaBus(kafka_bootstrap, client_id="consumer-tests")
    topic = f"consume.{uuid.uuid4().hex[:10]}"
    await bus.ensure_topics([topic], 1)
    return bus, topic, table, inbox, dead


def loop_for(engine, bus, projection, inbox, dead, group: str | None = None) -> ConsumerLoop:
    return ConsumerLoop(engine, bus.subscription(projection.topics, group or projection.name),
                        projection, inbox=inbox, dead_letter=dead, service="test",
                        batch_size=25)


async def rows(engine, table) -> list[tuple]:
    async with engine.connect() as conn:
        return [tuple(r) for r in await conn.execute(select(table).order_by(table.c.n))]


async def count(engine, table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(table))).scalar_one()


@contextlib.asynccontextmanager
async def running(loop: ConsumerLoop) -> AsyncIterator[None]:
    """The loop runs inside the block and has stopped, cleanly, when it is left."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


async def test_redelivered_events_take_effect_once(engine, setup):
    bus, topic, table, inbox, dead = setup
    evs = events(100)
    await publish(bus, topic, evs)
    await publish(bus, topic, evs[10:30])  # a relay that crashed and published again
    projection = Tally(table, topic)
    loop = loop_for(engine, bus, projection, inbox, dead)
    async with running(loop):
        await eventually(lambda: _equals(count(engine, table), 100), what="100 applied")
        await asyncio.sleep(1.0)  # the 20 repeats arrive too, and change nothing
    assert [n for _, n in await rows(engine, table)] == list(range(100))
    assert loop.applied == 100


async def test_offsets_are_committed_only_after_the_effect_is_durable(engine, setup):
    bus, topic, table, inbox, dead = setup
    await publish(bus, topic, events(60))
    gate = asyncio.Event()
    projection = Tally(table, topic, gate=gate)
    first = loop_for(engine, bus, projection, inbox, dead)
    task = asyncio.create_task(first.run(asyncio.Event()))
    await eventually(lambda: _equals(count(engine, table), 25), what="first batch")
    await asyncio.sleep(0.5)  # the second batch is now waiting inside its transaction
    task.cancel()  # the process dies mid-batch: its transaction rolls back, no commit
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await count(engine, table) == 25

    projection.gate = None
    second = loop_for(engine, bus, projection, inbox, dead, group=projection.name)
    async with running(second):
        await eventually(lambda: _equals(count(engine, table), 60), what="the rest applied")
    assert [n for _, n in await rows(engine, table)] == list(range(60))


async def test_a_poison_event_is_parked_and_the_rest_apply(engine, setup):
    bus, topic, table, inbox, dead = setup
    await publish(bus, topic, events(30))
    projection = Tally(table, topic, poison=7)
    loop = loop_for(engine, bus, projection, inbox, dead)
    async with running(loop):
        await eventually(lambda: _equals(count(engine, table), 29), what="29 applied")
    async with engine.connect() as conn:
        parked = (await conn.execute(select(dead.c.consumer, dead.c.error))).all()
    assert parked == [(projection.name, "ValueError: cannot apply this one")]


async def test_rebuild_from_offset_zero_gives_the_same_rows(engine, setup):
    bus, topic, table, inbox, dead = setup
    await publish(bus, topic, events(80))
    projection = Tally(table, topic)
    loop = loop_for(engine, bus, projection, inbox, dead)
    async with running(loop):
        await eventually(lambda: _equals(count(engine, table), 80), what="80 applied")
        before = await rows(engine, table)
        await loop.rebuild()
        assert await count(engine, table) < 80 or loop.applied > 80
        await eventually(lambda: _equals(count(engine, table), 80), what="replayed")
    assert await rows(engine, table) == before
    assert loop.applied == 160


async def inbox_rows(engine, inbox, consumer: str) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(inbox)
                                   .where(inbox.c.consumer == consumer))).scalar_one()


@pytest.mark.parametrize("idempotent", [False, True])
async def test_a_batch_projection_takes_effect_once_per_event(engine, setup, idempotent):
    bus, topic, table, inbox, dead = setup
    evs = events(100)
    await publish(bus, topic, evs)
    await publish(bus, topic, evs[10:30])  # published again
    projection = BatchTally(table, topic, idempotent=idempotent)
    loop = loop_for(engine, bus, projection, inbox, dead)
    async with running(loop):
        await eventually(lambda: _equals(count(engine, table), 100), what="100 applied")
        await asyncio.sleep(1.0)
    assert [n for _, n in await rows(engine, table)] == list(range(100))
    assert 5 <= projection.batches <= 10  # 120 records, 25 a batch: whole batches
    # the inbox dedups for a projection that needs it; an idempotent one writes none
    assert await inbox_rows(engine, inbox, projection.name) == (0 if idempotent else 100)
    assert loop.applied == (120 if idempotent else 100)


async def test_a_failing_batch_is_applied_singly_and_the_poison_parked(engine, setup):
    bus, topic, table, inbox, dead = setup
    await publish(bus, topic, events(30))
    loop = loop_for(engine, bus, BatchTally(table, topic, poison=7), inbox, dead)
    async with running(loop):
        await eventually(lambda: _equals(count(engine, table), 29), what="29 applied")
    async with engine.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(dead))).scalar_one() == 1


async def _equals(coro, expected: int) -> bool:
    return await coro == expected
