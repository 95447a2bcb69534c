"""Relay throughput: the outbox relay drains N events from PostgreSQL to a real Kafka
broker (idempotent producer, acks=all), batched.

1. Not timed: a fresh schema with the messaging tables; the outbox prefilled with N
   encoded CloudEvents (COPY) shaped like `cairn.ledger.achievement.recorded.v1`,
   a few hundred bytes each, keyed by learner id over `keys` learners; a fresh topic
   with the services' partition count.
2. Timed: `OutboxRelay.run()` from its start (producer start, advisory lock) until every
   row is marked sent (`published_at` set).
3. Not timed: the topic is read back from offset zero; exactly N distinct event ids must
   have arrived, each learner's events in one partition and in outbox order.

Knobs (`-o key=value` or `CAIRN_BENCH_RELAY_THROUGHPUT_<KEY>`): events (100000),
keys (10000), partitions (CAIRN_TOPIC_PARTITIONS, 6), batch (CAIRN_RELAY_BATCH_SIZE, 5000),
target (50000 events/s), timeout (300 s).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import MetaData, func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks import Result, benchmark
from benchmarks._context import Context
from shared.contracts import decode_event
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.relay import OutboxRelay
from shared.messaging.tables import messaging_tables
from shared.settings import ServiceSettings

EVENT_TYPE = "cairn.ledger.achievement.recorded.v1"
TARGET = 50_000  # events/s on the 2-core reference machine


def make_events(n: int, keys: int, topic: str, seed: int = 7
                ) -> tuple[list[tuple[str, str, str, str, bytes]], dict[str, int]]:
    """Outbox rows (event_id, event_type, topic, key, payload) and the per-learner count.
    Each payload is what `encode_event(CloudEvent(...))` writes; `data.seq` numbers one
    learner's events, so the order per key can be checked on the topic."""
    rnd = random.Random(seed)
    learners = [f"lrn-{uuid.UUID(int=rnd.getrandbits(128), version=4)}" for _ in range(keys)]
    seq: dict[str, int] = defaultdict(int)
    base = datetime(2026, 6, 30, 9, 0, tzinfo=UTC)
    prev_hash: dict[str, str] = {}
    rows = []
    for i in range(n):
        learner = learners[rnd.randrange(keys)]
        k = seq[learner]
        seq[learner] = k + 1
        event_id = str(uuid.UUID(int=rnd.getrandbits(128), version=4))
        institution = f"inst-{rnd.randrange(40):02d}"
        data = {
            "achievement_id": f"ach-{i:09d}",
            "learner_id": learner,
            "institution_id": institution,
            "result_id": f"{institution}/2026/R{rnd.randrange(10**7):07d}",
            "course": {"institution_id": institution, "code": f"CS{rnd.randrange(100, 700)}",
                       "version": rnd.randrange(1, 5)},
            "assessed_on": (base - timedelta(days=rnd.randrange(900))).date().isoformat(),
            "credit": {"value": str(rnd.choice((10, 15, 20, 30))), "scheme": "CATS"},
            "level": {"framework": "FHEQ", "value": rnd.randrange(4, 8)},
            "grade": rnd.choice(("A", "B", "C", "D", "Pass", "Merit", "Distinction")),
            "seq": k,
        }
        # the learner's hash chain: this event's hash covers the previous one
        data["hash"] = prev_hash[learner] = hashlib.sha256(
            prev_hash.get(learner, "").encode() + orjson.dumps(data)).hexdigest()
        envelope = {
            "specversion": "1.0", "id": event_id, "source": "/cairn/ledger",
            "type": EVENT_TYPE, "subject": learner,
            "time": (base + timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z"),
            "datacontenttype": "application/json", "data": data,
        }
        rows.append((event_id, EVENT_TYPE, topic, learner, orjson.dumps(envelope)))
    return rows, dict(seq)


async def _prefill(engine: AsyncEngine, schema: str, rows: list) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "outbox", schema_name=schema, records=rows,
            columns=["event_id", "event_type", "topic", "key", "payload"])
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # A live outbox has planner statistics (autovacuum); a fresh COPY has none yet.
        # No CHECKPOINT here: it would make the timed window pay a full-page image in the
        # WAL for every page it marks, which a live outbox (rows younger than the last
        # checkpoint) does not.
        await conn.execute(text(f'VACUUM ANALYZE "{schema}".outbox'))


async def _read_back(bootstrap: str, topic: str, expected: int, timeout: float = 120.0
                     ) -> list:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                client_id="bench-verify", max_partition_fetch_bytes=8 << 20,
                                fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic)
                                                          or await _partitions(consumer, topic))]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        records = []
        deadline = time.monotonic() + timeout
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"read {len(records)} of {sum(ends.values())} records")
            batches = await consumer.getmany(timeout_ms=1000, max_records=50_000)
            for msgs in batches.values():
                records.extend(msgs)
        return records
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()
    return consumer.partitions_for_topic(topic) or set()


def _verify(records: list, n: int, per_key: dict[str, int]) -> tuple[list, list]:
    ids: set[str] = set()
    partition_of: dict[bytes, int] = {}
    last_seq: dict[bytes, int] = {}
    split_keys = out_of_order = bad_header = 0
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = orjson.loads(r.value)
        ids.add(event["id"])
        if partition_of.setdefault(r.key, r.partition) != r.partition:
            split_keys += 1
        s = event["data"]["seq"]
        if s < last_seq.get(r.key, -1):  # a re-publish may repeat, never go back
            out_of_order += 1
        last_seq[r.key] = s
        if not dict(r.headers or ()).get("content-type", b"").startswith(
                b"application/cloudevents+json"):
            bad_header += 1
    decode_event(records[0].value) if records else None  # the envelope is a valid CloudEvent
    checks = [
        (f"{len(ids):,} distinct event ids on the topic (expected {n:,})", len(ids) == n),
        (f"{len(records):,} records in all, no duplicates", len(records) == n),
        (f"each of {len(per_key):,} keys in one partition", split_keys == 0),
        ("each key's events in outbox order", out_of_order == 0),
        ("CloudEvents content-type header on every record", bad_header == 0),
    ]
    return checks, [("records read back", f"{len(records):,}")]


@benchmark("relay_throughput", "outbox relay -> Kafka (idempotent, acks=all), batched",
           needs=("postgres", "kafka"))
async def run(ctx: Context) -> Result:
    settings = ServiceSettings()
    n = ctx.param("events", 100_000)
    keys = ctx.param("keys", 10_000)
    partitions = ctx.param("partitions", settings.topic_partitions)
    batch = ctx.param("batch", settings.relay_batch_size)
    target = ctx.param("target", TARGET)
    suffix = uuid.uuid4().hex[:8]
    schema, topic = f"bench_relay_{suffix}", f"bench.relay.{suffix}"

    engine = create_async_engine(ctx.database_url, pool_size=4, max_overflow=4)
    bus = KafkaBus(ctx.kafka_bootstrap, client_id="bench")
    metadata = MetaData(schema=schema)
    outbox, _, _ = messaging_tables(metadata)
    try:
        ctx.progress(f"generating {n:,} events over {keys:,} keys")
        rows, per_key = make_events(n, keys, topic)
        payload_bytes = sum(len(r[4]) for r in rows)
        async with engine.begin() as conn:
            await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            await conn.run_sync(metadata.create_all)
        ctx.progress(f"prefilling {schema}.outbox (COPY)")
        await _prefill(engine, schema, rows)
        del rows
        await bus.ensure_topics([topic], partitions)
        relay = OutboxRelay(engine, outbox, bus.publisher(), service="bench", batch_size=batch,
                            idle_seconds=settings.relay_idle_seconds)

        ctx.progress(f"relay: {n:,} events, batch {batch:,}, {partitions} partitions")
        meter = ctx.cpu_meter()
        stop = asyncio.Event()
        cpu0 = meter.snapshot()
        started = time.perf_counter()
        task = asyncio.create_task(relay.run(stop))
        deadline = started + ctx.param("timeout", 300)
        while relay.published < n and not task.done():
            if time.perf_counter() > deadline:
                stop.set()
                await task
                raise TimeoutError(f"relay published {relay.published:,} of {n:,} events "
                                   f"in {deadline - started:.0f} s")
            await asyncio.sleep(0.002)
        drained = time.perf_counter()
        cpu1 = meter.snapshot()
        if task.done():
            await task  # raises what stopped the relay
            raise RuntimeError(f"relay stopped after {relay.published:,} of {n:,} events")
        async with engine.connect() as conn:
            left = (await conn.execute(select(func.count()).select_from(outbox)
                                       .where(outbox.c.published_at.is_(None)))).scalar_one()
        stop.set()
        await task
        seconds = drained - started
        rate = n / seconds

        ctx.progress("reading the topic back")
        records = await _read_back(ctx.kafka_bootstrap, topic, n)
        checks, read_details = _verify(records, n, per_key)
        checks.insert(0, ("outbox drained: no row left unpublished", left == 0))
        details = [
            ("events", f"{n:,} ({payload_bytes / n:,.0f} B average payload, "
                       f"{payload_bytes / 1e6:,.1f} MB), {len(per_key):,} keys"),
            ("relay", f"batch {batch:,}, topic with {partitions} partitions, "
                      "acks=all, idempotent producer"),
            ("drained in", f"{seconds:.3f} s = {rate:,.0f} events/s "
                           f"({payload_bytes / seconds / 1e6:,.1f} MB/s)"),
            *read_details,
            *meter.report(cpu0, cpu1),
        ]
        return Result(rate, "events/s", target, details=details, checks=checks)
    finally:
        await _cleanup(engine, schema, ctx.kafka_bootstrap, topic)


async def _cleanup(engine: AsyncEngine, schema: str, bootstrap: str, topic: str) -> None:
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    try:
        await admin.start()
        await admin.delete_topics([topic])
    except Exception:
        pass
    finally:
        await admin.close()
