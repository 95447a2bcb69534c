"""structlog JSON lines carry the request id (HTTP) on every line of the request."""

from __future__ import annotations

import json
import logging

import httpx
import pytest
import structlog
from fastapi import FastAPI

from shared.http import EdgeMiddleware
from shared.logging import configure_logging


@pytest.fixture(autouse=True)
def _restore_logging():
    """configure_logging binds the (captured) stderr of this test: put back what was
    configured before, so later tests do not log to a closed stream."""
    config, root = structlog.get_config(), logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:], root.level = handlers, level


async def test_every_log_line_of_a_request_carries_its_request_id(capsys) -> None:
    configure_logging("INFO", json=True)
    app = FastAPI()
    app.add_middleware(EdgeMiddleware, service="catalogue")

    @app.get("/x")
    async def x() -> dict:
        structlog.get_logger("test").info("first.step")
        structlog.get_logger("test").info("second.step", detail=1)
        return {}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        response = await client.get("/x", headers={"x-request-id": "req-123"})
        generated = await client.get("/x")
    assert response.headers["x-request-id"] == "req-123"
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    ours = [line for line in lines if line["event"] in ("first.step", "second.step")]
    assert len(ours) == 4
    assert [line["request_id"] for line in ours[:2]] == ["req-123", "req-123"]
    assert ours[2]["request_id"] == ours[3]["request_id"] == generated.headers["x-request-id"]
    assert all(line["service"] == "catalogue" and line["level"] == "info" for line in ours)
