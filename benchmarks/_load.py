"""A closed-loop HTTP/1.1 load generator for the benchmarks, on raw asyncio streams.

Why not httpx: this machine has 2 CPUs shared by the server processes, PostgreSQL, Kafka
and the client. httpx spends a few hundred µs of CPU per request (its models, header
objects, the h11 state machine), so at thousands of requests/s the client would take a
core from the server it measures. Here a request is bytes encoded before the clock
starts, and of an answer only the status line, Content-Length and the body are read.

Method: `connections` keep-alive connections, all open before the clock starts; each sends
its next request as soon as it has read the previous answer (a closed loop: exactly
`connections` requests in flight, the offered load follows the server). The requests are
taken in order from one list, each sent once. Latency is from writing a request to having
read its whole answer.
A connection that breaks (the server closed it, reset it) counts its request as status
0 and is opened again. Answers must carry a Content-Length (the services' do); a
chunked answer is refused.

`run_load_at_rate` is the open-loop variant, for latency at a stated load: request i is
due at i / rate seconds after the start, and goes out on the first of `connections`
connections free at that time. Its latency runs from when it was sent, or from when it
was due if every connection was still busy then (so time spent queued behind a slow
server counts: no coordinated omission). A request sent late because this process's
timer woke late (asyncio sleeps to the millisecond) is not charged to the server.

The result holds the client's own CPU over the run (this process: nothing else runs in
it meanwhile), so a benchmark can print what the measuring cost.

    requests = [encode_request("GET", f"/v1/learners/{lid}/statement", base_url,
                               {"authorization": f"Bearer {token}"}) for ...]
    load = await run_load(base_url, requests, connections=32)
    load.rate, load.latency_line(), load.client_line()
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from benchmarks._ledger_stack import percentile

_LENGTH = b"\r\ncontent-length:"
_CHUNKED = b"\r\ntransfer-encoding:"


def _host_port(base_url: str) -> tuple[str, int]:
    url = urlsplit(base_url)
    if url.scheme != "http" or not url.hostname:
        raise ValueError(f"plain http://host:port URLs only, not {base_url!r}")
    return url.hostname, url.port or 80


def encode_request(method: str, path: str, base_url: str,
                   headers: Mapping[str, str] | None = None, body: bytes = b"") -> bytes:
    """One HTTP/1.1 request as bytes (keep-alive is HTTP/1.1's default)."""
    host, port = _host_port(base_url)
    lines = [f"{method} {path} HTTP/1.1", f"host: {host}:{port}"]
    lines += [f"{k.lower()}: {v}" for k, v in (headers or {}).items()
              if k.lower() not in ("host", "content-length")]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


@dataclass(frozen=True)
class LoadResult:
    """Per request (in the order given): latency in seconds, status (0: the connection
    broke) and, when asked, the body. `wall` runs from the first send to the last answer;
    `client_cpu` is this process's CPU seconds over the same window."""

    latencies: list[float]
    statuses: list[int]
    bodies: list[bytes] | None
    wall: float
    client_cpu: float
    connections: int

    @property
    def count(self) -> int:
        return len(self.statuses)

    @property
    def rate(self) -> float:
        return self.count / self.wall if self.wall > 0 else 0.0

    def status_counts(self) -> dict[int, int]:
        return dict(sorted(Counter(self.statuses).items()))

    def quantile(self, q: float) -> float:
        """The q-quantile (0..1) of the latencies, in seconds."""
        return percentile(sorted(self.latencies), q)

    def latency_line(self) -> str:
        ordered = sorted(self.latencies)
        if not ordered:
            return "no requests"
        ms = [percentile(ordered, q) * 1000 for q in (0.5, 0.9, 0.99)]
        return (f"p50 {ms[0]:.1f} ms, p90 {ms[1]:.1f} ms, p99 {ms[2]:.1f} ms, "
                f"max {ordered[-1] * 1000:.1f} ms")

    def client_line(self) -> str:
        per = self.client_cpu / self.count * 1e6 if self.count else 0.0
        cores = self.client_cpu / self.wall if self.wall > 0 else 0.0
        return (f"{self.client_cpu:.2f} s ({cores:.2f} cores, {per:.0f} µs per request; "
                f"{self.connections} keep-alive connections)")


class _Broken(Exception):
    """The connection broke before a whole answer was read."""


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError) as error:
        raise _Broken(str(error)) from error
    status = int(head[9:12])
    lowered = head.lower()
    at = lowered.find(_LENGTH)
    if at < 0:
        if lowered.find(_CHUNKED) >= 0:
            raise ValueError("a chunked answer: this client reads Content-Length bodies only")
        return status, b""
    end = lowered.index(b"\r\n", at + 2)
    length = int(head[at + len(_LENGTH):end])
    if not length:
        return status, b""
    try:
        return status, await reader.readexactly(length)
    except (asyncio.IncompleteReadError, ConnectionError) as error:
        raise _Broken(str(error)) from error


async def _connection(host: str, port: int, opened: tuple[asyncio.StreamReader,
                                                           asyncio.StreamWriter],
                      requests: Sequence[bytes], order: Iterator[int],
                      latencies: list[float], statuses: list[int],
                      bodies: list[bytes] | None, due: Callable[[int], float] | None) -> None:
    reader, writer = opened
    clock = time.perf_counter
    try:
        for i in order:  # shared by every connection: each request is sent once
            started = clock()
            if due is not None:
                at = due(i)
                if started < at:  # on time: sent when it is due
                    await asyncio.sleep(at - started)
                    started = clock()
                else:  # it waited for a free connection: that wait counts
                    started = at
            try:
                writer.write(requests[i])
                await writer.drain()
                status, body = await _read_answer(reader)
            except (_Broken, ConnectionError):
                latencies[i], statuses[i] = clock() - started, 0
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            latencies[i], statuses[i] = clock() - started, status
            if bodies is not None:
                bodies[i] = body
    finally:
        writer.close()


@contextlib.contextmanager
def _no_collections() -> Iterator[None]:
    """No cyclic garbage collection while timing: a full collection of a benchmark
    process's heap (a million seeded results leave a big one) pauses this event loop
    for milliseconds, and every answer due meanwhile would be charged to the server."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


async def run_load(base_url: str, requests: Sequence[bytes], *, connections: int,
                   keep_bodies: bool = False, timeout: float = 600.0) -> LoadResult:
    """Send every request over `connections` keep-alive connections, closed loop."""
    return await _run(base_url, requests, connections, keep_bodies, timeout, rate=None)


async def run_load_at_rate(base_url: str, requests: Sequence[bytes], *, rate: float,
                           connections: int, timeout: float = 600.0) -> LoadResult:
    """Send the requests at `rate` a second (open loop), on up to `connections`
    keep-alive connections."""
    if rate <= 0:
        raise ValueError("the rate must be positive")
    return await _run(base_url, requests, connections, False, timeout, rate=rate)


async def _run(base_url: str, requests: Sequence[bytes], connections: int, keep_bodies: bool,
               timeout: float, rate: float | None) -> LoadResult:
    host, port = _host_port(base_url)
    n = len(requests)
    latencies, statuses = [0.0] * n, [0] * n
    bodies: list[bytes] | None = [b""] * n if keep_bodies else None
    order = iter(range(n))
    async with asyncio.timeout(timeout):
        # Every connection is open before the clock starts: otherwise the first requests
        # of an open-loop run fall due while the client is still connecting, and its own
        # connection burst is charged to the server as latency.
        opened = await asyncio.gather(*(asyncio.open_connection(host, port)
                                        for _ in range(min(connections, n) or 1)))
        cpu_start, started = time.process_time(), time.perf_counter()
        due = None if rate is None else (lambda i: started + i / rate)
        with _no_collections():
            await asyncio.gather(*(_connection(host, port, pair, requests, order, latencies,
                                               statuses, bodies, due) for pair in opened))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_start
    return LoadResult(latencies, statuses, bodies, wall, cpu, connections)
