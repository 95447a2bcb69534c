"""The ledger as production runs it, for the ledger benchmarks: its own fresh database
on the benchmark's PostgreSQL, `python -m ledger migrate`, then `python -m ledger api`
(CAIRN_WEB_WORKERS processes on one port) and, when asked, `python -m ledger relay`
(the entries table published to Kafka's `ledger.events`). Real processes, real servers,
the settings an operator would give them.

    async with ledger_stack(ctx, web_workers=2, relay=True) as stack:
        headers = stack.headers("institution", "uni-a")
        ... httpx against stack.base_url ...
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import asyncpg
import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from benchmarks._context import Context
from benchmarks._machine import CpuMeter, peak_rss
from shared.auth import mint_token
from shared.settings import DEMO_AUTH_SECRET

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _asyncpg_dsn(database_url: str) -> tuple[str, dict[str, str]]:
    """A libpq-style DSN for asyncpg from a SQLAlchemy URL (host may be a socket dir)."""
    url = make_url(database_url)
    query = dict(url.query)
    host = query.pop("host", None) or url.host or "localhost"
    return (f"postgresql://{url.username or 'postgres'}@/{url.database}",
            {"host": str(host), "port": str(url.port or 5432),
             "password": url.password or ""})


async def connect(database_url: str) -> asyncpg.Connection:
    dsn, extra = _asyncpg_dsn(database_url)
    return await asyncpg.connect(dsn, host=extra["host"], port=int(extra["port"]),
                                 password=extra["password"] or None)


async def checkpoint(database_url: str) -> bool:
    """CHECKPOINT: write out the pages a bulk load dirtied (not during the timed part),
    and let the WAL segments it filled be recycled, not created and zero-filled again,
    as a freshly initialised server does until its first checkpoints. False when the
    role may not (it needs superuser or pg_checkpoint: a DATABASE_URL may not allow it)."""
    conn = await connect(database_url)
    try:
        await conn.execute("CHECKPOINT")
        return True
    except asyncpg.InsufficientPrivilegeError:
        return False
    finally:
        await conn.close()


async def fresh_database(server_url: str, prefix: str) -> str:
    """A new, empty database on the same server; its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await connect(server_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


async def drop_database(ctx: Context, database_url: str) -> None:
    """Drop a database `ledger_stack` made (a 1M-achievement one holds ~1.5 GB)."""
    name = make_url(database_url).database
    conn = await connect(ctx.database_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class LedgerStack:
    base_url: str
    database_url: str
    kafka_bootstrap: str
    secret: str
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    log_path: Path | None = None

    async def start(self, command: str) -> None:
        """Start another ledger process (`relay`, `consumer`) now."""
        assert self.log_path is not None
        with self.log_path.open("ab") as log:
            self.processes[command] = _spawn(command, self.env, log)
        await _wait_ready(self.base_url, self.processes, self.log_path)

    def token(self, role: str, subject: str) -> str:
        return mint_token(self.secret, subject, role)  # type: ignore[arg-type]

    def memory_line(self) -> tuple[str, str]:
        """("peak memory", "ledger api 412 MiB, ledger relay 131 MiB"): each process's
        most resident memory so far (VmHWM; an API with several workers: the largest)."""
        return ("peak memory", ", ".join(f"ledger {name} {peak_rss(proc.pid) / 2**20:,.0f} MiB"
                                         for name, proc in self.processes.items()))

    def headers(self, role: str, subject: str) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token(role, subject)}",
                "content-type": "application/json"}

    def cpu_meter(self, ctx: Context) -> CpuMeter:
        """CPU of the API processes (with their workers), the relay, PostgreSQL, the
        broker and this (client) process."""
        trees = {f"ledger {name}": proc.pid for name, proc in self.processes.items()}
        trees["postgresql"] = ctx.servers.postgres_pid
        return CpuMeter({"benchmark client (python)": os.getpid(),
                         "kafka broker (jvm)": ctx.servers.kafka_pid}, trees=trees)


def _spawn(command: str, env: dict[str, str], log: IO[bytes]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "ledger", command], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


async def _wait_ready(base_url: str, procs: dict[str, subprocess.Popen], log_path: Path,
                      timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            for name, proc in procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(f"ledger {name} exited with {proc.returncode}; "
                                       f"log {log_path}:\n{log_path.read_text()[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"{base_url}/ready")).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the ledger API did not become ready in {timeout:.0f}s; log {log_path}")


@contextlib.asynccontextmanager
async def ledger_stack(ctx: Context, *, web_workers: int = 2, relay: bool = True,
                       extra_env: dict[str, str] | None = None, keep: bool = False
                       ) -> AsyncIterator[LedgerStack]:
    """The processes stop on exit, and the fresh database is dropped unless `keep`."""
    database_url = await fresh_database(ctx.database_url, f"bench_{ctx.name}")
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "CAIRN_MODE": "local",
           "CAIRN_AUTH_SECRET": DEMO_AUTH_SECRET, "CAIRN_BUS": "kafka",
           "KAFKA_BOOTSTRAP_SERVERS": ctx.servers.kafka_bootstrap or "",
           "CAIRN_HOST": "127.0.0.1", "CAIRN_PORT": str(port),
           "CAIRN_WEB_WORKERS": str(web_workers), "CAIRN_LOG_LEVEL": "WARNING",
           **(extra_env or {})}
    work = Path(ctx.servers._workdir())
    log_path = work / f"{ctx.name}-ledger.log"
    ctx.progress(f"ledger: migrate a fresh database, then api x{web_workers}"
                 + (" and relay" if relay else "") + f" (log {log_path})")
    with log_path.open("ab") as log:
        migrate = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "ledger", "migrate"], env=env, cwd=ROOT,
            stdout=log, stderr=subprocess.STDOUT)
        if migrate.returncode:
            raise RuntimeError(f"ledger migrate failed; log {log_path}")
        conn = await connect(database_url)
        try:  # a server given by DATABASE_URL: find its postmaster for the CPU figures
            await ctx.servers.find_postgres_pid(conn.get_server_pid())
        finally:
            await conn.close()
        stack = LedgerStack(f"http://127.0.0.1:{port}", database_url,
                            ctx.servers.kafka_bootstrap or "", DEMO_AUTH_SECRET, env=env,
                            log_path=log_path)
        try:
            stack.processes["api"] = _spawn("api", env, log)
            if relay:
                stack.processes["relay"] = _spawn("relay", env, log)
            await _wait_ready(stack.base_url, stack.processes, log_path)
            yield stack
        finally:
            for proc in stack.processes.values():
                await asyncio.to_thread(_stop, proc)
            if keep:
                ctx.progress(f"kept the database: {database_url}")
            else:
                await drop_database(ctx, database_url)


async def served_histogram(base_url: str, method: str, route_part: str
                           ) -> dict[float, float]:
    """The API's own latency histogram (cairn_http_request_duration_seconds, from its
    /metrics) of the 200 answers to `method` on routes containing `route_part`:
    cumulative counts by upper bound (s). The API's time is from its edge middleware
    receiving the parsed request to the answer handed to the server: it includes the
    waits for its event loop while the request awaits something (PostgreSQL), not the
    time before the server read the request. With several API processes, all of theirs
    (shared.metrics)."""
    async with httpx.AsyncClient(timeout=10) as client:
        text = (await client.get(f"{base_url}/metrics")).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "cairn_http_request_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (sample.name.endswith("_bucket") and labels.get("method") == method
                    and route_part in labels.get("route", "")
                    and labels.get("status") == "200"):
                bound = float(labels["le"])
                buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return buckets


def served_quantiles(before: dict[float, float], after: dict[float, float],
                     qs: tuple[float, ...] = (0.5, 0.99)) -> str:
    """What share of the answers counted between two served_histogram() readings the
    API itself served within each bucket bound, as "p50 ≤ 1 ms, p99 ≤ 2.5 ms (n)"."""
    counts = sorted((bound, after[bound] - before.get(bound, 0.0)) for bound in after)
    total = counts[-1][1] if counts else 0
    if not total:
        return "-"
    largest = max((b for b, _ in counts if b != float("inf")), default=0.0)
    parts = []
    for q in qs:
        bound = next(b for b, n in counts if n >= q * total)
        shown = (f"more than {largest * 1000:g} ms" if bound == float("inf")
                 else f"≤ {bound * 1000:g} ms")
        parts.append(f"p{q * 100:g} {shown}")
    return f"{', '.join(parts)} ({total:,.0f} answers)"


def percentile(sorted_values: list[float], q: float) -> float:
    """The q-quantile (0..1) of already sorted values, nearest-rank."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, round(q * len(sorted_values) + 0.5) - 1))
    return sorted_values[rank]
