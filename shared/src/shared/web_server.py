"""The services' HTTP server: uvicorn, with each response sent in one write.

uvicorn writes a response's status line and headers when the app starts the response,
then its body: two `send` system calls for every answer, and, to the client, two
segments to wake up for. On these machines a system call that wakes another process
costs more CPU than building a statement read's answer (see `shared.coalesce`), so
`HttpProtocol` collects what a response writes and sends it in one call when the
response is complete. Anything written outside a complete response (a `100 Continue`,
the chunks of a streamed answer, a WebSocket's frames) goes out at the end of the event
loop's turn, and closing the connection sends what is waiting first: nothing is ever
held back longer than one turn. Large writes are not held at all (nor copied to be
joined): once what waits reaches `HOLD_AT_MOST` it goes out, so the transport's own
flow control (pausing a fast streaming app) still works. Select it with
`uvicorn.run(..., http=HTTP_PROTOCOL)`.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HTTP_PROTOCOL = "shared.web_server:HttpProtocol"  # uvicorn's `http` setting (picklable)
HOLD_AT_MOST = 64 * 1024  # bytes: a 5 KB statement answer is held and joined, a 1 MB one not


class OneWritePerTurn:
    """A transport that joins the writes made until `flush` (or the end of the loop's
    turn) into one write to `transport`; everything else is `transport`'s own."""

    __slots__ = ("_held", "_loop", "_pending", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] | None = None
        self._held = 0  # bytes in _pending

    def write(self, data: bytes) -> None:
        if self._held + len(data) >= HOLD_AT_MOST:
            self.flush()
            self._transport.write(data)
        elif self._pending is None:
            self._pending, self._held = [data], len(data)
            self._loop.call_soon(self.flush)
        else:
            self._pending.append(data)
            self._held += len(data)

    def flush(self) -> None:
        pending, self._pending, self._held = self._pending, None, 0
        if pending:
            self._transport.write(pending[0] if len(pending) == 1 else b"".join(pending))

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending, self._held = None, 0
        self._transport.abort()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def __getattr__(self, name: str) -> Any:  # get_extra_info, set_protocol, ...
        return getattr(self._transport, name)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, writing through `OneWritePerTurn` and flushing when
    a response is complete (in the same call as its last write)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(OneWritePerTurn(transport, self.loop))  # type: ignore[arg-type]

    def on_response_complete(self) -> None:
        self.transport.flush()  # type: ignore[attr-defined]
        super().on_response_complete()
