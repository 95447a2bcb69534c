"""ledger.events on a real Kafka broker: the entries table is the ledger's outbox,
published by position (DESIGN §3). Every achievement reaches the topic, one learner's
events in ledger_seq order, and a relay killed mid-batch publishes again on restart:
the consumer's inbox absorbs the repeat, so each event takes effect once."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict

import pytest
from sqlalchemy import Column, Integer, Table, Text, insert, select

from ledger.adapters.publication import ENTRIES
from shared.contracts import decode_event
from shared.messaging.consumer import ConsumerLoop
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.log_relay import LogRelay
from shared.messaging.memory_bus import InProcessBus
from tests.contract.test_bus_contract import drain
from tests.integration.test_ledger_api import result
from tests.plugins.services import auth, eventually, running, unique

pytestmark = pytest.mark.integration


async def record(migrated_database, inst: str, learners: list[str], per_learner: int) -> set:
    """Results through the HTTP API (no workers: nothing is published yet)."""
    items = [result(inst, lid, f"r{i}-{lid}", assessed_on=f"2026-0{1 + i % 6}-1{i % 9}")
             for i in range(per_learner) for lid in learners]
    async with running("ledger", migrated_database, InProcessBus(),
                       run_workers=False) as (_, client):
        response = await client.post("/v1/results/batch", json={"results": items},
                                     headers=auth("institution", inst))
    assert response.status_code == 200, response.text
    assert response.json()["counts"]["created"] == len(items)
    return {i["achievement_id"] for i in response.json()["results"]}


class DiesAfterPublishing:
    """The relay process dies after the broker acknowledged a batch, before the
    watermark was saved."""

    def __init__(self, inner) -> None:
        self.inner, self.published_once = inner, asyncio.Event()

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def publish(self, records) -> None:
        await self.inner.publish(records)
        self.published_once.set()
        await asyncio.Event().wait()  # never returns: killed here


async def ledger_events_for(bus: KafkaBus, learners: set[str], expected: int) -> list:
    sub = bus.subscription(["ledger.events"], f"check-{uuid.uuid4().hex[:6]}")
    await sub.start()
    try:
        mine, distinct = [], set()
        deadline = asyncio.get_running_loop().time() + 60
        while len(distinct) < expected:  # repeats after the crash may come too
            assert asyncio.get_running_loop().time() < deadline, f"{len(distinct)} of {expected}"
            batch = await drain(sub, 1, timeout=30)
            batch += await sub.fetch(5000, timeout=0.2)
            mine += [r for r in batch if r.key.decode() in learners]
            distinct = {decode_event(r.value).id for r in mine}
        return mine
    finally:
        await sub.stop()


async def test_every_entry_reaches_ledger_events_in_order_even_after_a_crash(
        migrated_database, engine, kafka_bootstrap, scratch_messaging):
    bus = KafkaBus(kafka_bootstrap, client_id="ledger-events-test")
    await bus.ensure_topics(["ledger.events"], 6)
    inst = unique("uni")
    learners = [unique("L") for _ in range(20)]
    achievements = await record(migrated_database, inst, learners, per_learner=10)

    # A relay that dies after publishing its first batch, before saving the watermark.
    dying = DiesAfterPublishing(bus.publisher())
    first = LogRelay(engine, ENTRIES, dying, service="ledger", batch_size=50)
    task = asyncio.create_task(first.run(asyncio.Event()))
    await asyncio.wait_for(dying.published_once.wait(), 60)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)

    # Its replacement starts from the last saved watermark and publishes everything.
    stop = asyncio.Event()
    second = LogRelay(engine, ENTRIES, bus.publisher(), service="ledger", batch_size=50)
    task = asyncio.create_task(second.run(stop))
    records = await ledger_events_for(bus, set(learners), expected=200)
    stop.set()
    await task

    events = [decode_event(r.value) for r in records]
    assert {e.data["achievement_id"] for e in events} == achievements  # every one arrived
    assert all(e.type == "cairn.ledger.achievement.recorded.v1" for e in events)
    by_learner: dict[str, list[int]] = defaultdict(list)
    for event in events:
        by_learner[event.subject].append(event.data["ledger_seq"])
    for lid, seqs in by_learner.items():
        distinct = list(dict.fromkeys(seqs))
        assert distinct == sorted(distinct) == list(range(1, 11)), lid  # in order, none lost

    # A consumer with an inbox applies each event once, repeats or not.
    metadata, (_, inbox, dead) = scratch_messaging
    applied = Table("applied", metadata, Column("event_id", Text, primary_key=True),
                    Column("ledger_seq", Integer))
    async with engine.begin() as conn:
        await conn.run_sync(applied.create)

    class Applied:
        name, topics = f"applied-{uuid.uuid4().hex[:6]}", ("ledger.events",)

        async def apply(self, conn, event) -> None:
            if event.subject in learners:
                await conn.execute(insert(applied).values(event_id=event.id,
                                                          ledger_seq=event.data["ledger_seq"]))

        async def reset(self, conn) -> None:
            return None

    projection = Applied()
    loop = ConsumerLoop(engine, bus.subscription(projection.topics, projection.name),
                        projection, inbox=inbox, dead_letter=dead, service="test")
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))

    async def all_applied() -> bool:
        async with engine.connect() as conn:
            return len((await conn.execute(select(applied.c.event_id))).all()) == 200

    await eventually(all_applied, timeout=60, what="200 events applied")
    stop.set()
    await task
