"""Relay throughput: the outbox relay drains N events from PostgreSQL to a real Kafka
broker (idempotent producer, acks=all), batched.

1. Not timed, warm-up: `warmup` events relayed through another outbox and topic, then
   `broker_warmup` more published straight to that topic. Measured on this project's
   2-core machine: a just-started broker JVM keeps its JIT compiler threads busy for
   its first ~600k events (its CPU per 100k events falls from ~0.9 s to ~0.35 s), and a
   freshly initialised PostgreSQL creates and zero-fills every WAL segment it writes
   (waits `WalInitWrite`/`WalInitSync`) until a checkpoint lets it recycle them. Both
   are artefacts of servers started a second ago, not of the relay.
2. `rounds` times (the figure is the median): a CHECKPOINT (so that, as in a live
   database, the outbox under test is younger than the last checkpoint), a fresh schema
   with the messaging tables, the outbox prefilled with N encoded CloudEvents (COPY, then
   VACUUM ANALYZE as autovacuum would) shaped like `cairn.ledger.achievement.recorded.v1`,
   ~690 bytes each, keyed by learner id over `keys` learners, and a fresh topic with the
   services' partition count; then, timed, the outbox relay's `run()`
   (shared.messaging.relay: published by position), in this process tuned as a relay
   process is (`_as_a_relay_process`), from its start (producer start, advisory lock)
   until its saved watermark passes every row; then, not timed, the topic
   is read back from offset zero: exactly N distinct event ids, each learner's events in
   one partition and in outbox order.

Knobs (`-o key=value` or `CAIRN_BENCH_RELAY_THROUGHPUT_<KEY>`): events (100000),
keys (10000), partitions (CAIRN_TOPIC_PARTITIONS, 6), batch (CAIRN_RELAY_BATCH_SIZE, 5000),
warmup (= events), broker_warmup (500000), rounds (3), target (50000 events/s),
timeout (300 s per drain).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hashlib
import random
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy import MetaData, Table, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from benchmarks import Result, benchmark
from benchmarks._context import Context
from shared.contracts import decode_event
from shared.messaging.bus import OutgoingRecord
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.relay import HEADERS, outbox_relay
from shared.messaging.tables import messaging_tables
from shared.runtime import tune_gc, tune_malloc
from shared.settings import ServiceSettings

EVENT_TYPE = "cairn.ledger.achievement.recorded.v1"
TARGET = 50_000  # events/s on the 2-core reference machine


def make_events(n: int, keys: int, seed: int = 7
                ) -> tuple[list[tuple[str, str, str, bytes]], dict[str, int]]:
    """Outbox rows (event_id, event_type, key, payload) and the per-learner count.
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
        rows.append((event_id, EVENT_TYPE, learner, orjson.dumps(envelope)))
    return rows, dict(seq)


async def _prefill(engine: AsyncEngine, schema: str, topic: str, rows: list) -> None:
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        await raw.driver_connection.copy_records_to_table(  # type: ignore[union-attr]
            "outbox", schema_name=schema,
            records=((event_id, kind, topic, key, payload)
                     for event_id, kind, key, payload in rows),
            columns=["event_id", "event_type", "topic", "key", "payload"])
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        # A live outbox has planner statistics (autovacuum); a fresh COPY has none yet.
        await conn.execute(text(f'VACUUM ANALYZE "{schema}".outbox'))


async def _checkpoint(engine: AsyncEngine) -> bool:
    async with engine.connect() as conn:
        await conn.execution_options(isolation_level="AUTOCOMMIT")
        try:
            await conn.execute(text("CHECKPOINT"))
            return True
        except Exception:
            return False  # needs superuser or pg_checkpoint: a DATABASE_URL may not allow it


async def _warm_broker(bus: KafkaBus, topic: str, rows: list, count: int) -> None:
    """Publish `count` records straight to `topic` (the relay's publisher, no database)."""
    publisher = bus.publisher()
    await publisher.start()
    try:
        records = [OutgoingRecord(topic, key.encode(), payload, HEADERS)
                   for _, _, key, payload in rows]
        sent = 0
        while sent < count:
            for i in range(0, len(records), 5000):
                chunk = records[i:i + min(5000, count - sent)]
                await publisher.publish(chunk)
                sent += len(chunk)
                if sent >= count:
                    break
    finally:
        await publisher.stop()


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


def _is_cloudevent(value: bytes) -> bool:
    try:
        decode_event(value)
    except ValueError:
        return False
    return True


def _verify(records: list, n: int, per_key: dict[str, int]) -> list[tuple[str, bool]]:
    ids: set[str] = set()
    partition_of: dict[bytes, int] = {}
    last_seq: dict[bytes, int] = {}
    split_keys = out_of_order = bad_header = 0
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event = orjson.loads(r.value)
        ids.add(event["id"])
        if partition_of.setdefault(r.key, r.partition) != r.partition:
            split_keys += 1
        s = event["data"]["seq"]  # 0, 1, 2, ... per learner, in outbox order
        if s != last_seq.get(r.key, -1) + 1:
            out_of_order += 1
        last_seq[r.key] = s
        if not dict(r.headers or ()).get("content-type", b"").startswith(
                b"application/cloudevents+json"):
            bad_header += 1
    out_of_order += sum(1 for key, count in per_key.items()  # the last ones arrived too
                        if last_seq.get(key.encode(), -1) != count - 1)
    sample = records[::997]
    undecodable = sum(1 for r in sample if not _is_cloudevent(r.value))
    return [
        (f"{len(ids):,} distinct event ids read back from the topic (expected {n:,})",
         len(ids) == n),
        (f"{len(records):,} records on the topic, no duplicates (expected {n:,})",
         len(records) == n),
        (f"each of the {len(per_key):,} keys in one partition ({split_keys} strays)",
         split_keys == 0),
        (f"each key's events in outbox order, none missing ({out_of_order} out of order)",
         out_of_order == 0),
        (f"CloudEvents content-type header on every record ({bad_header} without)",
         bad_header == 0),
        (f"sampled values decode as CloudEvents ({undecodable} of {len(sample)} do not)",
         undecodable == 0),
    ]


@dataclass
class _Outbox:
    """A prefilled throw-away outbox and its topic."""

    schema: str
    topic: str
    table: Table
    events: int
    payload_bytes: int
    per_key: dict[str, int]


async def _prepare(ctx: Context, engine: AsyncEngine, bus: KafkaBus, label: str,
                   rows: list, per_key: dict[str, int], partitions: int) -> _Outbox:
    suffix = uuid.uuid4().hex[:8]
    schema, topic = f"bench_{label}_{suffix}", f"bench.{label}.{suffix}"
    metadata = MetaData(schema=schema)
    outbox, _, _ = messaging_tables(metadata)
    async with engine.begin() as conn:
        await conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        await conn.run_sync(metadata.create_all)
    box = _Outbox(schema, topic, outbox, len(rows), sum(len(r[3]) for r in rows), per_key)
    ctx.progress(f"{label}: prefilling {schema}.outbox with {len(rows):,} events (COPY)")
    await _prefill(engine, schema, topic, rows)
    await bus.ensure_topics([topic], partitions)
    return box


@contextlib.contextmanager
def _as_a_relay_process() -> Iterator[None]:
    """This process tuned as `python -m <service> relay` runs (shared.cli): its heap so
    far frozen and young collections only past 1,000,000 survivors (tune_gc), glibc
    keeping batch-sized buffers (tune_malloc). Without it the relay, in this process,
    collected over the prefilled rows this process still holds, which a relay process
    never has. The collector's settings are put back afterwards (glibc's stay)."""
    threshold = gc.get_threshold()
    tune_malloc()
    tune_gc()
    try:
        yield
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)


async def _drain(ctx: Context, engine: AsyncEngine, bus: KafkaBus, box: _Outbox, batch: int,
                 idle: float) -> tuple[float, list[tuple[str, str]], dict[str, float]]:
    """Run a relay until it has published every row of `box` (and saved its watermark):
    (seconds, CPU lines, CPU seconds by process)."""
    relay = outbox_relay(engine, box.table, bus.publisher(), service="bench", batch_size=batch,
                         idle_seconds=idle)
    meter = ctx.cpu_meter()
    stop = asyncio.Event()
    cpu0 = meter.snapshot()
    started = time.perf_counter()
    task = asyncio.create_task(relay.run(stop))
    deadline = started + ctx.param("timeout", 300)
    try:
        while relay.published < box.events and not task.done():
            if time.perf_counter() > deadline:
                raise TimeoutError(f"relay published {relay.published:,} of {box.events:,} "
                                   f"events in {deadline - started:.0f} s")
            await asyncio.sleep(0.002)
        drained = time.perf_counter()
        cpu1 = meter.snapshot()
        if task.done():
            await task  # raises what stopped the relay
            raise RuntimeError(f"relay stopped after {relay.published:,} of {box.events:,}")
    finally:
        stop.set()
        await task
    return drained - started, meter.report(cpu0, cpu1), meter.seconds(cpu0, cpu1)


async def _unpublished(engine: AsyncEngine, box: _Outbox) -> int:
    """Rows after the relay's saved watermark."""
    async with engine.connect() as conn:
        return (await conn.execute(text(f"""
            SELECT count(*) FROM "{box.schema}".outbox o WHERE NOT EXISTS (
              SELECT 1 FROM "{box.schema}".relay_positions p
              WHERE p.name = 'outbox' AND (o.xid, o.id) <= (p.xid, p.seq))"""))).scalar_one()


@dataclass
class _Round:
    seconds: float
    cpu: list[tuple[str, str]]
    cpu_seconds: dict[str, float]
    checks: list[tuple[str, bool]]

    def rate(self, n: int) -> float:
        return n / self.seconds

    def summary(self, n: int) -> str:
        short = {"relay process (python)": "relay", "kafka broker (jvm)": "kafka",
                 "postgresql": "pg", "other": "other", "stolen": "stolen"}
        cpu = ", ".join(f"{short[k]} {v:.2f}" for k, v in self.cpu_seconds.items()
                        if k in short)
        return (f"{self.rate(n):,.0f} events/s ({self.seconds:.2f} s)"
                + (f"; CPU s: {cpu}" if cpu else ""))


async def _round(ctx: Context, engine: AsyncEngine, bus: KafkaBus, label: str, rows: list,
                 per_key: dict[str, int], partitions: int, batch: int, idle: float,
                 boxes: list[_Outbox]) -> _Round:
    """One timed drain of a fresh outbox, checked on the topic afterwards."""
    await _checkpoint(engine)  # the outbox under test is younger than the last checkpoint
    boxes.append(box := await _prepare(ctx, engine, bus, label, rows, per_key, partitions))
    ctx.progress(f"{label}: relaying {box.events:,} events (timed)")
    with _as_a_relay_process():
        seconds, cpu, cpu_seconds = await _drain(ctx, engine, bus, box, batch, idle)
    left = await _unpublished(engine, box)
    records = await _read_back(ctx.kafka_bootstrap, box.topic, box.events)
    checks = [("outbox drained: the saved watermark passes every row", left == 0),
              *_verify(records, box.events, box.per_key)]
    ctx.progress(f"{label}: {box.events / seconds:,.0f} events/s, "
                 f"{'checks passed' if all(ok for _, ok in checks) else 'CHECK FAILED'}")
    return _Round(seconds, cpu, cpu_seconds, checks)


@benchmark("relay_throughput", "outbox relay -> Kafka (idempotent, acks=all), batched",
           needs=("postgres", "kafka"))
async def run(ctx: Context) -> Result:
    settings = ServiceSettings()
    n = ctx.param("events", 100_000)
    keys = ctx.param("keys", 10_000)
    partitions = ctx.param("partitions", settings.topic_partitions)
    batch = ctx.param("batch", settings.relay_batch_size)
    warmup = min(ctx.param("warmup", n), n)  # the same events, in another outbox and topic
    broker_warmup = ctx.param("broker_warmup", 500_000)
    rounds = max(1, ctx.param("rounds", 3))
    target = ctx.param("target", TARGET)
    idle = settings.relay_idle_seconds

    engine = create_async_engine(ctx.database_url, pool_size=4, max_overflow=4)
    bus = KafkaBus(ctx.kafka_bootstrap, client_id="bench")
    boxes: list[_Outbox] = []
    try:
        async with engine.connect() as conn:
            await ctx.servers.find_postgres_pid(
                (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one())
        ctx.progress(f"generating {n:,} events over {keys:,} keys")
        rows, per_key = make_events(n, keys)
        warm_note = "none"
        if warmup or broker_warmup:
            boxes.append(warm := await _prepare(ctx, engine, bus, "warmup", rows[:warmup], {},
                                                partitions))
            ctx.progress(f"warm-up: relaying {warmup:,}, then publishing {broker_warmup:,} "
                         "events (not timed)")
            if warmup:
                await _drain(ctx, engine, bus, warm, batch, idle)
            await _warm_broker(bus, warm.topic, rows, broker_warmup)
            warm_note = (f"{warmup:,} events relayed, then {broker_warmup:,} published "
                         "straight to Kafka (another outbox and topic)")
        checkpoint = "each round: CHECKPOINT, then" if await _checkpoint(engine) else \
            "each round (CHECKPOINT not allowed here):"
        results = [await _round(ctx, engine, bus, f"round{i + 1}", rows, per_key, partitions,
                                batch, idle, boxes) for i in range(rounds)]
        by_rate = sorted(results, key=lambda r: r.seconds)
        median = by_rate[len(by_rate) // 2]
        payload = sum(len(r[3]) for r in rows)
        details = [
            ("events", f"{n:,} per round ({payload / n:,.0f} B average payload, "
                       f"{payload / 1e6:,.1f} MB), {len(per_key):,} keys"),
            ("relay", f"batch {batch:,}, topic with {partitions} partitions, "
                      "acks=all, idempotent producer"),
            ("warm-up (not timed)", warm_note),
            ("rounds", f"{rounds}; {checkpoint} a fresh outbox (COPY, VACUUM ANALYZE) "
                       "and topic; timed from relay start until its saved watermark passes "
                       "the last row"),
            *[(f"round {i + 1}", r.summary(n)) for i, r in enumerate(results)],
            ("median round (the figure)", f"{median.seconds:.3f} s = {median.rate(n):,.0f} "
                                          f"events/s ({payload / median.seconds / 1e6:,.1f} "
                                          "MB/s), CPU:"),
            *[(f"  {label.removeprefix('CPU ')}", text_) for label, text_ in median.cpu],
        ]
        checks = [(f"round {i + 1}: {label}", ok)
                  for i, r in enumerate(results) for label, ok in r.checks if not ok]
        if not checks:
            checks = [(f"every round: {label}", True) for label, _ in results[0].checks]
        return Result(median.rate(n), "events/s", target, details=details, checks=checks)
    finally:
        await _cleanup(engine, [(b.schema, b.topic) for b in boxes], ctx.kafka_bootstrap)


async def _cleanup(engine: AsyncEngine, made: list[tuple[str, str]], bootstrap: str) -> None:
    try:
        async with engine.begin() as conn:
            for schema, _ in made:
                await conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    finally:
        await engine.dispose()
    if not made:
        return
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id="bench-admin")
    try:
        await admin.start()
        await admin.delete_topics([topic for _, topic in made])
    except Exception:
        pass  # a left-over bench topic is harmless
    finally:
        await admin.close()
