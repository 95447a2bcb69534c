"""The services' HTTP server (shared.web_server): a response leaves in one write, and
nothing else changes — keep-alive, pipelining, streaming, Connection: close, large
bodies and 100 Continue all behave as with uvicorn's own protocol. Run on a real
uvicorn server on a local port."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared.web_server import HOLD_AT_MOST, HTTP_PROTOCOL, HttpProtocol, OneWritePerTurn

BIG = bytes(range(256)) * 4096  # 1 MiB


async def small(request: Request) -> Response:
    return Response(b"x" * 5000, media_type="application/json")


async def big(request: Request) -> Response:
    return Response(BIG, media_type="application/octet-stream")


async def stream(request: Request) -> StreamingResponse:
    async def chunks():
        for part in (b"one,", b"two,", b"three"):
            yield part
            await asyncio.sleep(0.01)
    return StreamingResponse(chunks(), media_type="text/plain")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


APP = Starlette(routes=[Route("/small", small), Route("/big", big), Route("/stream", stream),
                        Route("/echo", echo, methods=["POST"])])
WRITES: list[int] = []  # sizes of the writes that reached the socket's transport


class _CountingTransport:
    def __init__(self, transport) -> None:
        self._transport = transport

    def write(self, data: bytes) -> None:
        WRITES.append(len(data))
        self._transport.write(data)

    def __getattr__(self, name):
        return getattr(self._transport, name)


class CountedOurs(HttpProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(_CountingTransport(transport))


class CountedUvicorns(HttpToolsProtocol):
    def connection_made(self, transport) -> None:
        super().connection_made(_CountingTransport(transport))


@contextlib.asynccontextmanager
async def serving(protocol):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(APP, host="127.0.0.1", port=port, http=protocol,
                                           lifespan="off", log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    try:
        yield port
    finally:
        server.should_exit = True
        await task


async def read_response(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """(head, body) of one response: Content-Length or chunked."""
    head = await reader.readuntil(b"\r\n\r\n")
    lowered = head.lower()
    if b"transfer-encoding: chunked" in lowered:
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n"))[:-2], 16)
            chunk = await reader.readexactly(size + 2)
            if not size:
                return head, body
            body += chunk[:-2]
    length = int(lowered.split(b"content-length: ")[1].split(b"\r\n")[0])
    return head, await reader.readexactly(length)


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: t\r\n{extra}\r\n".encode()


async def test_a_large_body_is_neither_held_nor_copied() -> None:
    async with serving(CountedOurs) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        WRITES.clear()
        writer.write(get("/big"))
        head, body = await read_response(reader)
        assert body == BIG and [len(head), len(BIG)] == WRITES
        writer.close()


@pytest.mark.parametrize(("protocol", "writes"), [(CountedOurs, 1), (CountedUvicorns, 2)])
async def test_a_response_is_one_write(protocol, writes) -> None:
    async with serving(protocol) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(3):
            WRITES.clear()
            writer.write(get("/small"))
            head, body = await read_response(reader)
            assert head.startswith(b"HTTP/1.1 200") and body == b"x" * 5000
            assert len(WRITES) == writes and sum(WRITES) == len(head) + 5000
        writer.close()


async def test_keep_alive_pipelining_large_bodies_and_close() -> None:
    async with serving(HTTP_PROTOCOL) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/small") + get("/big") + get("/small"))  # pipelined
        assert (await read_response(reader))[1] == b"x" * 5000
        assert (await read_response(reader))[1] == BIG
        assert (await read_response(reader))[1] == b"x" * 5000
        writer.write(get("/small", "connection: close\r\n"))
        head, body = await read_response(reader)
        assert b"connection: close" in head.lower() and body == b"x" * 5000
        assert await reader.read() == b""  # the server closed after sending everything
        writer.close()


async def test_a_streamed_answer_and_100_continue() -> None:
    async with serving(HTTP_PROTOCOL) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(get("/stream"))
        assert (await read_response(reader))[1] == b"one,two,three"
        writer.write(b"POST /echo HTTP/1.1\r\nhost: t\r\ncontent-length: 5\r\n"
                     b"expect: 100-continue\r\n\r\n")
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")  # sent before the body came
        writer.write(b"hello")
        assert (await read_response(reader))[1] == b"hello"
        writer.close()


async def test_writes_wait_at_most_one_loop_turn() -> None:
    loop = asyncio.get_running_loop()
    sent: list[bytes] = []

    class Transport:
        def write(self, data: bytes) -> None:
            sent.append(data)

        def close(self) -> None:
            sent.append(b"<closed>")

    joined = OneWritePerTurn(Transport(), loop)  # type: ignore[arg-type]
    joined.write(b"a")
    joined.write(b"b")
    assert sent == []
    await asyncio.sleep(0)  # the end of this turn
    assert sent == [b"ab"]
    joined.write(b"c")
    joined.close()  # what waits goes first
    assert sent == [b"ab", b"c", b"<closed>"]
    sent.clear()
    joined.write(b"d")
    joined.write(b"e" * HOLD_AT_MOST)  # too much to hold: what waits, then it, at once
    assert sent == [b"d", b"e" * HOLD_AT_MOST]
