"""The benchmarks' load generator (benchmarks._load) against a tiny local HTTP server
that answers each request after a fixed delay: closed loop times each request from its
send; open loop keeps the schedule and charges the wait for a busy connection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from benchmarks._load import encode_request, run_load, run_load_at_rate

DELAY = 0.05  # the server's time per request


@contextlib.asynccontextmanager
async def slow_server() -> AsyncIterator[str]:
    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                await asyncio.sleep(DELAY)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def requests(base_url: str, n: int) -> list[bytes]:
    return [encode_request("GET", f"/r/{i}", base_url) for i in range(n)]


async def test_closed_loop_times_each_request_from_its_send() -> None:
    async with slow_server() as base_url:
        load = await run_load(base_url, requests(base_url, 5), connections=1)
    assert load.status_counts() == {200: 5}
    assert all(DELAY <= latency < DELAY * 3 for latency in load.latencies)


async def test_open_loop_charges_the_wait_for_a_busy_connection() -> None:
    # 5 requests due 10 ms apart, one connection that takes 50 ms each: the last is due
    # at 40 ms and answered at ~250 ms, so its latency is ~210 ms, not 50 ms.
    async with slow_server() as base_url:
        load = await run_load_at_rate(base_url, requests(base_url, 5), rate=100, connections=1)
    assert load.status_counts() == {200: 5}
    assert load.latencies[0] == pytest.approx(DELAY, abs=0.04)
    assert load.latencies[4] == pytest.approx(5 * DELAY - 0.04, abs=0.06)
    assert load.latencies[4] > 3 * DELAY


async def test_open_loop_keeps_to_the_rate_when_connections_are_free() -> None:
    # 20 requests at 100/s over enough connections: sent on schedule (about 0.19 s from
    # the first to the last), each answered in about the server's delay.
    async with slow_server() as base_url:
        load = await run_load_at_rate(base_url, requests(base_url, 20), rate=100,
                                      connections=10)
    assert load.status_counts() == {200: 20}
    assert 0.19 + DELAY <= load.wall < 0.19 + DELAY + 0.3
    assert max(load.latencies) < 2 * DELAY
