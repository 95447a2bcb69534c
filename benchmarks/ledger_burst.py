"""Results day's burst: `senders` members' tools each pushing 10,000-result batches at
once into one ledger API process (a pod: deploy/k8s/ledger.yaml runs one process a pod),
and the most memory that process held.

Why: a batch being read, checked, chained and answered costs its process ~12 times its
body (shared.admission), so thirty-two batches at once took one process to 1,548 MiB, past
its pod's 1 GiB limit, where Kubernetes kills it and every batch in flight is sent again. The
process's body budget (CAIRN_HTTP_BODY_BUDGET_BYTES) lets the batches past it wait in
line; one that waits longer than CAIRN_HTTP_ADMISSION_WAIT_SECONDS is answered 503
`overloaded` with Retry-After, and the senders here do as `cairn push-results` does:
wait as told and send it again (the batch endpoint is idempotent, R-LG-2).

The figure is the API process's peak resident memory (VmHWM, Linux), against the memory
limit of the ledger API's pod, read from deploy/k8s/ledger.yaml. Printed beside it:
results/s, each batch's latency from its first sending to its answer (waits included),
and the 503s answered. Checked: every result created once, one entry each in PostgreSQL.

Knobs (`-o key=value` or CAIRN_BENCH_LEDGER_BURST_<KEY>): senders (32), batches (1 a
sender), batch (10000 results), learners (50000), members (4), budget (bytes; 0: the
service's default), wait (seconds; 0: the service's default), timeout (900 s).
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from pathlib import Path

from benchmarks import Result, benchmark
from benchmarks._context import Context
from benchmarks._ledger_stack import ROOT, connect, ledger_stack, percentile
from benchmarks._machine import peak_rss
from benchmarks.ledger_ingest import make_batches, push
from shared.settings import BUDGET_BYTES, WAIT_SECONDS

MANIFEST = ROOT / "deploy" / "k8s" / "ledger.yaml"
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def pod_memory_limit(manifest: Path = MANIFEST) -> int:
    """Bytes: the memory limit of the `ledger api` container in the manifest."""
    text = manifest.read_text()
    api = text[text.index('args: ["ledger", "api"]'):]
    found = re.search(r"limits:\s*\n\s*memory:\s*(\d+)(Ki|Mi|Gi)", api)
    if found is None:
        raise ValueError(f"{manifest}: no memory limit for the ledger API")
    return int(found.group(1)) * _UNITS[found.group(2)]


@benchmark("ledger_burst", "results day's burst: peak memory of one ledger API process",
           needs=("postgres", "kafka"))
async def run(ctx: Context) -> Result:
    senders, per_sender = ctx.param("senders", 32), ctx.param("batches", 1)
    batch, learners = ctx.param("batch", 10_000), ctx.param("learners", 50_000)
    members = ctx.param("members", 4)
    budget, wait = ctx.param("budget", 0), ctx.param("wait", 0)
    total = senders * per_sender * batch
    limit = pod_memory_limit()
    env = {"CAIRN_HTTP_BODY_BUDGET_BYTES": str(budget)} if budget else {}
    if wait:
        env["CAIRN_HTTP_ADMISSION_WAIT_SECONDS"] = str(wait)

    tag = uuid.uuid4().hex[:8]
    ctx.progress(f"encoding {total:,} results in batches of {batch:,}")
    batches = make_batches(total, learners, members, batch, f"B{tag}")
    body_mb = sum(len(body) for _, body in batches) / len(batches) / 1e6
    async with ledger_stack(ctx, web_workers=1, relay=False, extra_env=env) as stack:
        api = stack.processes["api"].pid
        before = peak_rss(api)
        ctx.progress(f"timed: {len(batches)} batches, {senders} senders at once, api x1")
        started = time.perf_counter()
        latencies, counts, busy = await asyncio.wait_for(
            push(stack, batches, senders), ctx.param("timeout", 900))
        elapsed = time.perf_counter() - started
        peak = peak_rss(api)
        conn = await connect(stack.database_url)
        try:
            stored = await conn.fetchval("SELECT count(*) FROM ledger.entries WHERE kind = "
                                         "'recorded' AND result_id LIKE $1", f"B{tag}-%")
        finally:
            await conn.close()

    latencies.sort()
    details = [
        ("results", f"{total:,} in {len(batches)} batches of {batch:,} ({body_mb:.1f} MB "
                    f"each), {senders} senders each sending {per_sender} in turn"),
        ("api process", "one (CAIRN_WEB_WORKERS=1, a pod's shape); body budget "
                        f"{budget or BUDGET_BYTES:,} bytes, a wait of at most "
                        f"{wait or WAIT_SECONDS:g} s in line"),
        ("peak memory", f"{peak / 2**20:,.0f} MiB (VmHWM; {before / 2**20:,.0f} MiB when "
                        f"ready), the pod's limit {limit / 2**20:,.0f} MiB "
                        f"({MANIFEST.relative_to(ROOT)})"),
        ("throughput", f"{total / elapsed:,.0f} results/s ({elapsed:.1f} s)"),
        ("batch latency", f"p50 {percentile(latencies, 0.5):.1f} s, p99 "
                          f"{percentile(latencies, 0.99):.1f} s (first sending to answer)"),
        ("503 overloaded", f"{busy} answered, each sent again after its Retry-After"),
        ("outcomes", ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items()))),
    ]
    checks = [
        ("every result created", counts.get("created", 0) == total == sum(counts.values())),
        ("one recorded entry per result in PostgreSQL", stored == total),
    ]
    return Result(peak / 2**20, "MiB peak", limit / 2**20, higher_is_better=False,
                  details=details, checks=checks)
