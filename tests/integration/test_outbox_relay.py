"""The outbox relay on real PostgreSQL and Kafka: each row published, marked sent, safe
with several replicas, and publishing again after a crash (absorbed by the inbox)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import pytest
from sqlalchemy import func, select

from shared.contracts import decode_event, new_event
from shared.contracts.events import InstitutionRegisteredV1
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.outbox import append_to_outbox
from shared.messaging.relay import OutboxRelay
from tests.contract.test_bus_contract import drain
from tests.plugins.services import eventually

pytestmark = pytest.mark.integration


def event(i: int):
    return new_event(InstitutionRegisteredV1(
        institution_id=f"m-{i % 13}", revision=i, name=f"Member {i}", country="GB-ENG",
        framework="FHEQ", awarding_powers={"framework": "FHEQ", "max_level": 8}))


async def fill_outbox(engine, outbox, topic: str, n: int, start: int = 0) -> None:
    async with engine.begin() as conn:
        for i in range(start, start + n):
            await append_to_outbox(conn, outbox, topic, f"m-{i % 13}", [event(i)])


async def unpublished(engine, outbox) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(outbox)
                                   .where(outbox.c.published_at.is_(None)))).scalar_one()


async def everything_on(bus: KafkaBus, topic: str, n: int) -> list:
    sub = bus.subscription([topic], f"check-{uuid.uuid4().hex[:6]}")
    await sub.start()
    try:
        got = await drain(sub, n)
        assert await sub.fetch(10_000, timeout=1.5) == [], "more records than expected"
        return got
    finally:
        await sub.stop()


@pytest.fixture
async def kafka(kafka_bootstrap: str) -> KafkaBus:
    return KafkaBus(kafka_bootstrap, client_id="relay-tests")


@pytest.fixture
def topic() -> str:
    return f"relay.{uuid.uuid4().hex[:10]}"


async def test_each_row_is_published_once_and_marked_sent(engine, scratch_messaging, kafka,
                                                          topic):
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 3)
    await fill_outbox(engine, outbox, topic, 500)
    relay = OutboxRelay(engine, outbox, kafka.publisher(), service="test", batch_size=64,
                        idle_seconds=0.02)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await eventually(lambda: _zero(unpublished(engine, outbox)), what="outbox drained")
    stop.set()
    await task
    records = await everything_on(kafka, topic, 500)
    ids = Counter(decode_event(r.value).id for r in records)
    assert len(ids) == 500 and set(ids.values()) == {1}
    assert all(dict(r.headers)["content-type"].startswith(b"application/cloudevents+json")
               for r in records)


async def test_two_relays_never_publish_the_same_rows(engine, scratch_messaging, kafka, topic):
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 3)
    relays = [OutboxRelay(engine, outbox, kafka.publisher(), service="test", batch_size=50,
                          idle_seconds=0.01) for _ in range(2)]
    stops = [asyncio.Event(), asyncio.Event()]
    tasks = [asyncio.create_task(r.run(s)) for r, s in zip(relays, stops, strict=True)]
    for round_ in range(6):  # rows keep arriving while both replicas run
        await fill_outbox(engine, outbox, topic, 100, start=round_ * 100)
        await asyncio.sleep(0.05)
    await eventually(lambda: _zero(unpublished(engine, outbox)), what="outbox drained")
    leader = 0 if relays[0].published else 1
    assert relays[1 - leader].published == 0, "the standby published while the leader ran"

    stops[leader].set()  # the leader stops: the standby takes over
    await tasks[leader]
    await fill_outbox(engine, outbox, topic, 100, start=600)
    await eventually(lambda: _zero(unpublished(engine, outbox)), what="standby took over")
    stops[1 - leader].set()
    await tasks[1 - leader]
    assert relays[1 - leader].published == 100

    records = await everything_on(kafka, topic, 700)
    assert len({decode_event(r.value).id for r in records}) == 700


class CrashAfterPublishing:
    """A publisher whose process 'dies' after the broker acknowledged a batch but before
    the relay could mark the rows sent."""

    def __init__(self, inner) -> None:
        self.inner, self.crashes_left = inner, 1

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records) -> None:
        await self.inner.publish(records)
        if self.crashes_left:
            self.crashes_left -= 1
            raise ConnectionError("relay died after publishing")


async def test_a_batch_published_before_a_crash_is_published_again(engine, scratch_messaging,
                                                                   kafka, topic):
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 1)
    await fill_outbox(engine, outbox, topic, 30)
    relay = OutboxRelay(engine, outbox, CrashAfterPublishing(kafka.publisher()),
                        service="test", batch_size=30, idle_seconds=0.01)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    await eventually(lambda: _zero(unpublished(engine, outbox)), what="outbox drained")
    stop.set()
    await task
    records = await everything_on(kafka, topic, 60)
    ids = Counter(decode_event(r.value).id for r in records)
    assert len(ids) == 30 and set(ids.values()) == {2}  # at least once: consumers dedupe


async def _zero(count_coro) -> bool:
    return await count_coro == 0
