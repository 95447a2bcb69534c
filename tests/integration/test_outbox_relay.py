"""The outbox relay on real PostgreSQL and Kafka: each row published once, by position
(its watermark passes it), in the order its writers committed; safe with several
replicas; publishing again after a crash (absorbed by the inbox); and the migration
from an outbox of marked rows (v1) to one published by position (v2) and back."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from prometheus_client import REGISTRY
from sqlalchemy import MetaData, Table, text

from shared.contracts import decode_event, new_event
from shared.contracts.events import InstitutionRegisteredV1
from shared.db import asyncpg_connection
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.log_relay import INDEX_ONLY
from shared.messaging.outbox import append_to_outbox
from shared.messaging.relay import outbox_relay, outbox_source
from shared.messaging.tables import (
    create_messaging_tables_v1,
    create_relay_positions_v1,
    messaging_tables,
    outbox_by_position_v2,
    outbox_by_position_v2_downgrade,
)
from tests.contract.test_bus_contract import drain
from tests.plugins.plans import generic_plan
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
    """Rows after the relay's saved watermark."""
    schema = outbox.schema
    async with engine.connect() as conn:
        return (await conn.execute(text(f"""
            SELECT count(*) FROM "{schema}".outbox o WHERE NOT EXISTS (
              SELECT 1 FROM "{schema}".relay_positions p
              WHERE p.name = 'outbox' AND (o.xid, o.id) <= (p.xid, p.seq))"""))).scalar_one()


@contextlib.asynccontextmanager
async def relay_running(relay) -> AsyncIterator[None]:
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    try:
        yield
    finally:
        stop.set()
        await task


@contextlib.asynccontextmanager
async def held_back(engine, outbox, topic: str, committed: int) -> AsyncIterator[None]:
    """A writer writes the first row and stays open while `committed` rows are written
    after it and committed; it commits on leaving."""
    async with engine.connect() as first:
        await first.begin()
        await append_to_outbox(first, outbox, topic, "m-0", [event(0)])  # its xid: older
        await fill_outbox(engine, outbox, topic, committed, start=1)
        yield
        await first.commit()


async def drain_outbox(relay, engine, outbox) -> None:
    """Run `relay` until its saved watermark passes every row of `outbox`."""
    async with relay_running(relay):
        await eventually(lambda: _zero(unpublished(engine, outbox)), what="outbox drained")


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


async def test_each_row_is_published_once_and_the_watermark_passes_it(engine, scratch_messaging, kafka,
                                                          topic):
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 3)
    await fill_outbox(engine, outbox, topic, 500)
    relay = outbox_relay(engine, outbox, kafka.publisher(), service="test", batch_size=64,
                         idle_seconds=0.02)
    await drain_outbox(relay, engine, outbox)
    records = await everything_on(kafka, topic, 500)
    ids = Counter(decode_event(r.value).id for r in records)
    assert len(ids) == 500 and set(ids.values()) == {1}
    assert all(dict(r.headers)["content-type"].startswith(b"application/cloudevents+json")
               for r in records)


async def test_two_relays_never_publish_the_same_rows(engine, scratch_messaging, kafka, topic):
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 3)
    relays = [outbox_relay(engine, outbox, kafka.publisher(), service="test", batch_size=50,
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
    the relay could save its watermark."""

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
    relay = outbox_relay(engine, outbox, CrashAfterPublishing(kafka.publisher()),
                         service="test", batch_size=30, idle_seconds=0.01)
    await drain_outbox(relay, engine, outbox)
    records = await everything_on(kafka, topic, 60)
    ids = Counter(decode_event(r.value).id for r in records)
    assert len(ids) == 30 and set(ids.values()) == {2}  # at least once: consumers dedupe


async def _zero(count_coro) -> bool:
    return await count_coro == 0


async def test_a_row_of_a_transaction_still_open_goes_before_the_rows_committed_meanwhile(
        engine, scratch_messaging, kafka, topic):
    """The watermark never passes a row that may still appear: while a writer that wrote
    first is still open, a later writer's committed rows wait for it (and show in the
    backlog metrics; the relay keeps polling at its shortest wait, not backing off),
    then all go out in their writers' order; the relay's read-ahead (batches of 2)
    changes nothing."""
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 1)
    service = f"test-{uuid.uuid4().hex[:8]}"
    relay = outbox_relay(engine, outbox, kafka.publisher(), service=service, batch_size=2,
                         idle_seconds=0.02, max_idle_seconds=5.0, report_seconds=0.05)
    async with relay_running(relay):
        async with held_back(engine, outbox, topic, 3):
            polls = relay.polls
            await asyncio.sleep(0.6)
            assert relay.published == 0, "published past a row that could still appear"
            # every 0.02 s: ~25 polls (backing off from 0.02 s towards 5 s: about 5)
            assert relay.polls - polls >= 12, relay.polls - polls
            assert metric("cairn_outbox_backlog", service) == 3  # the open one is not seen
            assert metric("cairn_outbox_oldest_unpublished_seconds", service) >= 0.4
        await eventually(lambda: _zero(unpublished(engine, outbox)), what="outbox drained")
        await eventually(lambda: _true(metric("cairn_outbox_backlog", service) == 0),
                         what="backlog reported empty")
        assert metric("cairn_outbox_oldest_unpublished_seconds", service) == 0
    records = await everything_on(kafka, topic, 4)
    assert [decode_event(r.value).data["revision"] for r in records] == [0, 1, 2, 3]


async def test_the_backlog_is_counted_up_to_its_bound(engine, scratch_messaging, kafka, topic):
    """A relay far behind does not count every row it has yet to publish at each report
    (a million rows: a second of PostgreSQL's time every 5 s): the gauge reads the bound
    when at least that many wait; the age is still the oldest's."""
    _, (outbox, _, _) = scratch_messaging
    await kafka.ensure_topics([topic], 1)
    service = f"test-{uuid.uuid4().hex[:8]}"
    relay = outbox_relay(engine, outbox, kafka.publisher(), service=service, batch_size=2,
                         idle_seconds=0.02, report_seconds=0.05, count_backlog_up_to=4)
    async with relay_running(relay):
        async with held_back(engine, outbox, topic, 6):
            await eventually(lambda: _true(metric("cairn_outbox_backlog", service) == 4),
                             what="backlog counted up to 4")
            await asyncio.sleep(0.3)
            assert metric("cairn_outbox_backlog", service) == 4  # 6 wait
            assert metric("cairn_outbox_oldest_unpublished_seconds", service) >= 0.25
        await eventually(lambda: _true(metric("cairn_outbox_backlog", service) == 0),
                         what="backlog reported empty")


async def test_the_relays_watermark_queries_read_the_index_not_the_whole_outbox(
        engine, scratch_messaging):
    """The checks the relay makes besides its reads (held back? every empty poll; the
    backlog, every report) must find the rows after the watermark through the (xid, seq)
    index, however large the published part. asyncpg prepares them, and after five runs
    PostgreSQL plans them for any watermark (a generic plan), guessing that a third of
    the table follows it: as written first (EXISTS; a plain count) each read the whole
    table, every 50 ms while rows were held back (measured in ledger_ingest: 153 scans,
    18 million rows read in one run). 20,000 rows, not yet analysed, reproduce it."""
    _, (outbox, _, _) = scratch_messaging
    source = outbox_source(outbox)
    async with engine.begin() as conn:
        await conn.execute(text(f"""
            INSERT INTO {source.table} (event_id, event_type, topic, key, payload)
            SELECT 'e-' || g, 't', 't', 'm-' || (g % 13), convert_to(repeat('x', 400), 'UTF8')
            FROM generate_series(1, 20000) AS g"""))

    async def plan_of(sql: str, *settings: str) -> str:
        async with engine.connect() as conn:
            args = ("'1'", "1", "500") if "$3" in sql else ("'1'", "1")
            return await generic_plan(await asyncpg_connection(conn), sql, args, *settings)

    def whole_table(plan: str) -> bool:
        return "Seq Scan" in plan or "Bitmap" in plan

    # The table reproduces the trap: counted as any statement is, it is read whole.
    plain_count = f"SELECT count(*) FROM {source.table} WHERE (xid, id) > ($1::xid8, $2)"
    assert whole_table(await plan_of(plain_count)), "the table is too small to show it"
    for sql, settings in ((source.select, ()), (source.pending, ()),
                          (source.backlog, (INDEX_ONLY,))):  # as LogRelay runs each
        plan = await plan_of(sql, *settings)
        assert "Index" in plan and not whole_table(plan), plan


def metric(name: str, service: str) -> float | None:
    return REGISTRY.get_sample_value(name, {"service": service, "log": "outbox"})


async def _true(value: bool) -> bool:
    return value


def _ops(conn) -> Operations:
    return Operations(MigrationContext.configure(conn))


async def test_an_outbox_of_marked_rows_moves_to_positions_and_back(engine, kafka, topic):
    """outbox_by_position_v2 on an outbox with rows (v1): the rows not yet marked
    published are published, in id order, the ones marked are not; rows written after go
    on by their transactions; the downgrade marks exactly the rows the watermark passed."""
    schema = f"upgrade_{uuid.uuid4().hex[:10]}"
    async with engine.begin() as conn:
        await conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        await conn.run_sync(lambda c: create_messaging_tables_v1(_ops(c), schema))
    try:
        async with engine.begin() as conn:
            v1 = await conn.run_sync(lambda c: Table("outbox", MetaData(schema=schema),
                                                     autoload_with=c))
        await fill_outbox(engine, v1, topic, 10)
        async with engine.begin() as conn:  # the first six went out under v1
            await conn.exec_driver_sql(f'UPDATE "{schema}".outbox SET published_at = now() '
                                       "WHERE id <= 6")
            await conn.run_sync(lambda c: create_relay_positions_v1(_ops(c), schema))
            await conn.run_sync(lambda c: outbox_by_position_v2(_ops(c), schema))
        outbox = messaging_tables(MetaData(schema=schema))[0]
        await fill_outbox(engine, outbox, topic, 2, start=10)
        await kafka.ensure_topics([topic], 1)
        relay = outbox_relay(engine, outbox, kafka.publisher(), service="test", batch_size=3,
                             idle_seconds=0.01)
        await drain_outbox(relay, engine, outbox)
        records = await everything_on(kafka, topic, 6)
        assert [decode_event(r.value).data["revision"] for r in records] == [6, 7, 8, 9, 10, 11]

        await fill_outbox(engine, outbox, topic, 1, start=12)  # written, not yet published
        async with engine.begin() as conn:
            await conn.run_sync(lambda c: outbox_by_position_v2_downgrade(_ops(c), schema))
            marked = (await conn.exec_driver_sql(
                f'SELECT id, published_at IS NOT NULL FROM "{schema}".outbox ORDER BY id'
            )).all()
        assert marked == [(i, i <= 12) for i in range(1, 14)]
    finally:
        async with engine.begin() as conn:
            await conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
