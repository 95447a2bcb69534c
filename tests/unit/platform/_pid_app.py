"""A tiny ASGI app for test_web_workers: each answer is the serving process's id."""

from __future__ import annotations

import os
from typing import Any


def create() -> Any:
    if os.environ.get("PID_APP_BROKEN"):
        raise RuntimeError("this app cannot be built (on purpose)")

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = str(os.getpid()).encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app
