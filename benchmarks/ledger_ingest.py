"""Batched ingest: results pushed through the ledger's HTTP API in batches, recorded in
PostgreSQL (parsed, checked, fingerprinted, chained, one COPY per batch) and published
to Kafka by the relay: results/s from the first request sent until the relay has
published the last entry (its watermark passes the newest row).

Runs the production processes (`_ledger_stack`): `python -m ledger api` with
CAIRN_WEB_WORKERS processes and `python -m ledger relay`, on a fresh database.

1. Not timed, warm-up: `warmup` results the same way, as many as the timed part by
   default (warms the API processes, the relay and the broker JVM), then a CHECKPOINT.
   A server started a minute ago creates and zero-fills every WAL segment it writes
   until a checkpoint lets it recycle them (a live server recycles): with a 20,000-result
   warm-up and no checkpoint, the first run on fresh servers took PostgreSQL ~3.8 s of
   CPU against ~2.7 s for the next ones (2026-11-23), and its figure varied with that.
2. Timed: `results` results from `members` institutions, spread over `learners`
   learners, in batches of `batch` (pre-encoded bodies; `concurrency` requests in
   flight). The figure stops when the relay's saved watermark passes the newest entry.
   Each batch goes on a new connection (`connection: close`), as a load balancer would
   spread them: the kernel gives each new connection to one API process by a hash of
   its addresses (shared.web_workers), so four keep-alive connections would all be one
   process's one run in eight, the other idle for the whole run. A connection costs
   ~0.1 ms against a 5,000-result batch.
3. Not timed, checks: every item answered `created`; PostgreSQL holds exactly one
   `recorded` entry per result; the topic, read back from offset zero, holds one event
   per entry (no loss, no duplicate) and each learner's events in ledger_seq order.

Knobs (`-o key=value` or CAIRN_BENCH_LEDGER_INGEST_<KEY>): results (200000),
learners (50000), members (4), batch (5000), concurrency (4), web_workers (2),
warmup (results), target (50000 results/s), minimum (20000), timeout (600 s), keep (0:
the fresh database is dropped at the end).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from typing import NamedTuple

import httpx
import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks import Result, benchmark
from benchmarks._context import Context
from benchmarks._ledger_stack import (
    LedgerStack,
    checkpoint,
    connect,
    ledger_stack,
    percentile,
)
from cairn.push.pusher import retry_after

TARGET, MINIMUM = 50_000, 20_000
TOPIC = "ledger.events"
_COURSES = [("DS701", "Data Science Foundations", "15", 7), ("ML702", "Machine Learning", "15", 7),
            ("ST501", "Statistics", "20", 5), ("EC401", "Economics I", "10", 4)]


def make_result(member: str, n: int, learners: int, run: str) -> dict:
    code, title, credit, level = _COURSES[n % len(_COURSES)]
    return {"result_id": f"{run}-{n:08d}", "learner_id": f"L{run}-{n % learners:07d}",
            "institution_id": member, "course": {"institution_id": member, "code": code},
            "title": title, "credit": {"value": credit, "scheme": "CATS"},
            "level": {"framework": "FHEQ", "value": level},
            "subjects": [{"hecos": "100366", "percent": 100}],
            "grade": {"scale": "UK-PERCENT", "value": str(40 + n % 60)},
            "assessed_on": "2026-06-20", "origin": "member"}


def make_batches(total: int, learners: int, members: int, batch: int, run: str
                 ) -> list[tuple[str, bytes]]:
    """(member, encoded body) per batch; each batch is one member's results."""
    out = []
    for start in range(0, total, batch):
        member = f"uni-{(start // batch) % members}"
        items = [make_result(member, n, learners, run) for n in range(start, min(start + batch,
                                                                                  total))]
        out.append((member, orjson.dumps({"results": items})))
    return out


class Pushed(NamedTuple):
    latencies: list[float]  # s, each batch from its first sending to its answer
    counts: dict[str, int]  # items by outcome
    busy: int  # 503 answers with Retry-After, each batch sent again after it


async def push(stack: LedgerStack, batches: list[tuple[str, bytes]], concurrency: int
               ) -> Pushed:
    """Send every batch, `concurrency` at a time. A 503 with Retry-After (the API's body
    budget, shared.admission) is waited out and the batch sent again, as `cairn
    push-results` does."""
    queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()
    for item in batches:
        queue.put_nowait(item)
    latencies: list[float] = []
    counts: dict[str, int] = defaultdict(int)
    busy = 0
    headers = {m: {**stack.headers("institution", m), "connection": "close"}
               for m in {m for m, _ in batches}}

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal busy
        while not queue.empty():
            member, body = queue.get_nowait()
            started = time.perf_counter()
            while True:
                response = await client.post("/v1/results/batch", content=body,
                                             headers=headers[member])
                wait = retry_after(response)
                if response.status_code != 503 or wait is None:
                    break
                busy += 1
                await asyncio.sleep(wait)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                raise RuntimeError(f"batch answered {response.status_code}: "
                                   f"{response.text[:500]}")
            for outcome, n in orjson.loads(response.content)["counts"].items():
                counts[outcome] += n

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=stack.base_url, timeout=300, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return Pushed(latencies, dict(counts), busy)


async def wait_published(stack: LedgerStack, timeout: float) -> float:
    """Until the relay's saved watermark passes the newest entry; the time it did."""
    conn = await connect(stack.database_url)
    try:
        newest = await conn.fetchrow("SELECT xid, seq FROM ledger.entries "
                                     "ORDER BY xid DESC, seq DESC LIMIT 1")
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            done = await conn.fetchval(
                "SELECT (xid, seq) >= ($1::xid8, $2::bigint) FROM ledger.relay_positions "
                "WHERE name = 'entries'", newest["xid"], newest["seq"])
            if done:
                return time.perf_counter()
            await asyncio.sleep(0.02)
    finally:
        await conn.close()
    raise RuntimeError(f"the relay did not publish everything within {timeout:.0f}s")


async def read_topic(bootstrap: str, tag: str) -> tuple[int, set[str], bool]:
    """Of the events for learners whose id holds `tag` (this run's; the topic
    may hold earlier runs'): (events, distinct ids, each learner's ledger_seq strictly
    increasing)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 << 20, fetch_max_bytes=64 << 20)
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(TOPIC, p) for p in consumer.partitions_for_topic(TOPIC) or ()]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        events, ids, last_seq, ordered = 0, set(), {}, True
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000, max_records=20000)).values():
                for record in records:
                    envelope = orjson.loads(record.value)
                    data = envelope["data"]
                    if tag not in data["learner_id"]:
                        continue
                    events += 1
                    ids.add(envelope["id"])
                    learner = data["learner_id"]
                    if last_seq.get(learner, 0) >= data["ledger_seq"]:
                        ordered = False
                    last_seq[learner] = data["ledger_seq"]
        return events, ids, ordered
    finally:
        await consumer.stop()


@benchmark("ledger_ingest", "batched results through HTTP -> PostgreSQL -> Kafka",
           needs=("postgres", "kafka"))
async def run(ctx: Context) -> Result:
    total, learners = ctx.param("results", 200_000), ctx.param("learners", 50_000)
    members, batch = ctx.param("members", 4), ctx.param("batch", 5_000)
    concurrency, workers = ctx.param("concurrency", 4), ctx.param("web_workers", 2)
    warmup, timeout = ctx.param("warmup", total), ctx.param("timeout", 600)
    target = ctx.param("target", TARGET)

    tag = uuid.uuid4().hex[:8]  # this run's ids: the broker may hold earlier runs' events
    async with ledger_stack(ctx, web_workers=workers, relay=True,
                            keep=bool(ctx.param("keep", 0))) as stack:
        if warmup:
            ctx.progress(f"warm-up: {warmup:,} results")
            await push(stack, make_batches(warmup, min(learners, warmup), members, batch, f"W{tag}"),
                       concurrency)
            await wait_published(stack, timeout)
            await checkpoint(stack.database_url)
        ctx.progress(f"encoding {total:,} results over {learners:,} learners, "
                     f"{members} members, batches of {batch:,}")
        batches = make_batches(total, learners, members, batch, f"R{tag}")
        meter = stack.cpu_meter(ctx)
        ctx.progress(f"timed: {len(batches)} batches, {concurrency} in flight, "
                     f"api x{workers} + relay")
        cpu_start = meter.snapshot()
        started = time.perf_counter()
        latencies, counts, _ = await push(stack, batches, concurrency)
        answered = time.perf_counter()
        published = await wait_published(stack, timeout)
        cpu_end = meter.snapshot()
        memory = stack.memory_line()

        ctx.progress("checking PostgreSQL and reading the topic back")
        conn = await connect(stack.database_url)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM ledger.entries "
                                         "WHERE kind = 'recorded' AND result_id LIKE $1", f"R{tag}-%")
            all_entries = await conn.fetchval("SELECT count(*) FROM ledger.entries")
        finally:
            await conn.close()
        events, ids, ordered = await read_topic(stack.kafka_bootstrap, tag)

    rate = total / (published - started)
    latencies.sort()
    details = [
        ("results", f"{total:,} in {len(batches)} batches of {batch:,} from {members} members "
                    f"over {learners:,} learners; {concurrency} requests in flight"),
        ("processes", f"ledger api x{workers} (CAIRN_WEB_WORKERS), ledger relay, "
                      "PostgreSQL, Kafka broker, this client: all on this machine"),
        ("answered (HTTP)", f"{total / (answered - started):,.0f} results/s "
                            f"({answered - started:.2f} s)"),
        ("published (Kafka)", f"{rate:,.0f} results/s ({published - started:.2f} s, "
                              f"relay {(published - answered) * 1000:.0f} ms behind the "
                              "last answer)"),
        ("batch latency", f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                          f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, "
                          f"max {latencies[-1] * 1000:.0f} ms"),
        ("outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))),
        ("minimum", f"{MINIMUM:,} results/s: {'met' if rate >= MINIMUM else 'MISSED'}"),
        *meter.report(cpu_start, cpu_end),
        memory,
    ]
    checks = [
        ("every item created", counts.get("created", 0) == total == sum(counts.values())),
        ("one recorded entry per result in PostgreSQL", stored == total),
        ("one event per entry on the topic", events == all_entries == len(ids)),
        ("each learner's events in ledger_seq order", ordered),
    ]
    return Result(rate, "results/s", target, details=details, checks=checks)
