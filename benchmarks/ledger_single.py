"""Single-result ingest: `POST /v1/results`, one result per request, each under a new
result id (so each answer is 201), `concurrency` requests in flight, against the
production processes (`_ledger_stack`): `python -m ledger api` with CAIRN_WEB_WORKERS
processes and `python -m ledger relay` publishing every entry to Kafka.

The figure is results/s answered: timed from the first request sent to the last answer
read. The issue's second target, p99 latency, is reported under it (a result has one
headline figure) with p50/p90/max. The client is `_load`'s closed-loop generator (raw
asyncio streams, pre-encoded requests), whose own CPU is printed beside the servers'.

1. Not timed, warm-up: `warmup` results the same way (warms the API processes, their
   connection pools, the relay, the broker, PostgreSQL), then until the relay caught up.
2. Timed: `results` results from `members` institutions (round robin, each with its own
   token) over `learners` learners, `concurrency` requests in flight.
3. Not timed: until the relay's saved watermark passes the newest entry (the time it
   took after the last answer is printed).
4. Checks: every answer 201; PostgreSQL holds exactly one `recorded` entry per result;
   the relay published everything within `timeout`.

The fresh database is dropped at the end unless `keep=1`. The events stay on the
broker's `ledger.events` (results + warmup of them per run).

Knobs (`-o key=value` or CAIRN_BENCH_LEDGER_SINGLE_<KEY>): results (20000),
concurrency (32), web_workers (2), warmup (2000), learners (10000), members (4),
keep (0), target (2000 results/s), p99_ms (50), timeout (120 s).
"""

from __future__ import annotations

import time
import uuid

import orjson

from benchmarks import Result, benchmark
from benchmarks._context import Context
from benchmarks._ledger_stack import LedgerStack, connect, ledger_stack
from benchmarks._load import encode_request, run_load
from benchmarks.ledger_ingest import make_result, wait_published

TARGET, P99_MS = 2_000, 50


def make_requests(stack: LedgerStack, total: int, learners: int, members: int, run: str
                  ) -> list[bytes]:
    """One encoded `POST /v1/results` per result, members in turn, each its own token."""
    headers = {f"uni-{m}": stack.headers("institution", f"uni-{m}") for m in range(members)}
    out = []
    for n in range(total):
        member = f"uni-{n % members}"
        body = orjson.dumps(make_result(member, n, learners, run))
        out.append(encode_request("POST", "/v1/results", stack.base_url, headers[member], body))
    return out


@benchmark("ledger_single", "single results (POST /v1/results) at concurrency 32 -> Kafka",
           needs=("postgres", "kafka"))
async def run(ctx: Context) -> Result:
    total, learners = ctx.param("results", 20_000), ctx.param("learners", 10_000)
    members, concurrency = ctx.param("members", 4), ctx.param("concurrency", 32)
    workers, warmup = ctx.param("web_workers", 2), ctx.param("warmup", 2_000)
    target, p99_ms = ctx.param("target", TARGET), ctx.param("p99_ms", P99_MS)
    timeout, keep = ctx.param("timeout", 120), bool(ctx.param("keep", 0))

    tag = uuid.uuid4().hex[:8]
    async with ledger_stack(ctx, web_workers=workers, relay=True, keep=keep) as stack:
        conn = await connect(stack.database_url)
        try:  # a PostgreSQL given by DATABASE_URL: find its postmaster for the CPU figures
            await ctx.servers.find_postgres_pid(conn.get_server_pid())
        finally:
            await conn.close()
        if warmup:
            ctx.progress(f"warm-up: {warmup:,} results, {concurrency} in flight")
            await run_load(stack.base_url, make_requests(stack, warmup, learners, members,
                                                         f"W{tag}"), connections=concurrency)
            await wait_published(stack, timeout)
        ctx.progress(f"encoding {total:,} requests over {learners:,} learners, "
                     f"{members} members")
        requests = make_requests(stack, total, learners, members, f"R{tag}")
        meter = stack.cpu_meter(ctx)
        ctx.progress(f"timed: {total:,} requests, {concurrency} in flight, "
                     f"api x{workers} + relay")
        cpu_start = meter.snapshot()
        load = await run_load(stack.base_url, requests, connections=concurrency)
        answered = time.perf_counter()
        try:
            published: float | None = await wait_published(stack, timeout)
        except RuntimeError:
            published = None
        cpu_end = meter.snapshot()
        memory = stack.memory_line()

        conn = await connect(stack.database_url)
        try:
            stored = await conn.fetchval(
                "SELECT count(DISTINCT result_id) FROM ledger.entries "
                "WHERE kind = 'recorded' AND result_id LIKE $1", f"R{tag}-%")
            rows = await conn.fetchval("SELECT count(*) FROM ledger.entries "
                                       "WHERE result_id LIKE $1", f"R{tag}-%")
        finally:
            await conn.close()

    p99 = load.quantile(0.99) * 1000
    statuses = ", ".join(f"{s or 'broken'}: {n:,}" for s, n in load.status_counts().items())
    details = [
        ("results", f"{total:,} single POSTs from {members} members over {learners:,} "
                    f"learners; {concurrency} in flight (closed loop)"),
        ("processes", f"ledger api x{workers} (CAIRN_WEB_WORKERS), ledger relay, "
                      "PostgreSQL, Kafka broker, this client: all on this machine"),
        ("answered (HTTP)", f"{load.rate:,.0f} results/s ({load.wall:.2f} s)"),
        ("published (Kafka)", "not within the timeout" if published is None else
         f"relay {(published - answered) * 1000:.0f} ms behind the last answer"),
        ("latency", load.latency_line()),
        ("p99 target", f"≤ {p99_ms} ms: {'met' if p99 <= p99_ms else 'MISSED'} "
                       f"({p99:.1f} ms)"),
        ("statuses", statuses),
        ("client CPU (load generator)", load.client_line()),
        *meter.report(cpu_start, cpu_end),
        memory,
    ]
    checks = [
        ("every answer 201", load.status_counts() == {201: total}),
        ("one recorded entry per result in PostgreSQL", stored == rows == total),
        ("the relay published every entry", published is not None),
    ]
    return Result(load.rate, "results/s", target, details=details, checks=checks)
