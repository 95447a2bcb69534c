"""A ServiceApp serves its lean routes directly (shared.http.ServiceApp): the answers are
the same as through FastAPI's whole stack — statuses, problem bodies, the request id —
the latency metric still counts them, and a mounted or gateway-prefixed app still finds
them. Only Starlette's middleware stack and FastAPI's router are skipped."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Path, Query, Request, Response
from prometheus_client import REGISTRY
from starlette.applications import Starlette
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.routing import Mount

from shared import http
from shared.auth import Caller, mint_token, require_learner_or_admin
from shared.errors import Problem
from shared.http import create_service_app, lean
from shared.settings import ServiceSettings

SECRET = "s" * 40
router = APIRouter(prefix="/v1")


@lean(router, "GET", "/things/{tid}", summary="A thing")
async def get_thing(tid: Annotated[str, Path(pattern=r"^[a-z0-9-]+$")], caller: Caller,
                    request: Request,
                    at_least: Annotated[int | None, Query(ge=0)] = None) -> Response:
    require_learner_or_admin(caller, tid)
    if tid == "busy":
        raise Problem(503, "not_caught_up", "Not yet", retry_after=1)
    if tid == "broken":
        raise RuntimeError("a bug")
    return Response(f"{tid}|{caller.subject}|{at_least}|{request.url.path}",
                    media_type="text/plain")


@router.get("/plain/{tid}")
async def get_plain(tid: str) -> dict[str, str]:
    return {"tid": tid}


@router.post("/echo")
async def post_echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/json")


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield


def service_app() -> FastAPI:
    app = create_service_app(service="svc-test", title="t", description="t", version="1",
                             lifespan=_lifespan, routers=[router])
    app.state.settings = ServiceSettings(CAIRN_AUTH_SECRET=SECRET)
    return app


def bearer(subject: str) -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(SECRET, subject, 'learner')}"}


def client_of(asgi, **transport) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=asgi, **transport),
                             base_url="http://t")


REQUESTS = [
    ("/v1/things/abc", {}, bearer("abc")),  # 200
    ("/v1/things/abc", {"at_least": "2"}, bearer("abc")),  # 200 with a query parameter
    ("/v1/things/abc", {}, {}),  # 401: no token
    ("/v1/things/abc", {}, {"authorization": "Bearer nonsense"}),  # 401: bad token
    ("/v1/things/abc", {}, bearer("xyz")),  # 403: another learner's
    ("/v1/things/ABC", {}, bearer("ABC")),  # 422: the path parameter's pattern
    ("/v1/things/abc", {"at_least": "-1"}, bearer("abc")),  # 422: a query parameter
    ("/v1/things/busy", {}, bearer("busy")),  # 503 problem with Retry-After
    ("/v1/things/broken", {}, bearer("broken")),  # 500 problem from the catch-all handler
]


@pytest.mark.parametrize(("path", "params", "headers"), REQUESTS)
async def test_a_lean_route_answers_as_the_whole_stack_does(path, params, headers) -> None:
    app = service_app()

    async def whole_stack(scope, receive, send):  # FastAPI's own path, no shortcut
        await FastAPI.__call__(app, scope, receive, send)

    async with client_of(app) as direct, \
            client_of(whole_stack, raise_app_exceptions=False) as full:
        fast = await direct.get(path, params=params, headers=headers)
        slow = await full.get(path, params=params, headers=headers)
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content
    for header in ("content-type", "content-length", "www-authenticate", "retry-after"):
        assert fast.headers.get(header) == slow.headers.get(header), header
    # Even with the 500, which the whole stack answers outside EdgeMiddleware, without one
    assert fast.headers["x-request-id"]


async def test_the_lean_route_skips_the_middleware_stack_and_other_routes_do_not() -> None:
    app = service_app()
    async with client_of(app) as client:
        ok = await client.get("/v1/things/abc", headers={**bearer("abc"),
                                                         "x-request-id": "req-1"})
        assert (ok.status_code, ok.headers["x-request-id"]) == (200, "req-1")
        assert app.middleware_stack is None  # Starlette builds it on its first request
        plain = await client.get("/v1/plain/abc")
        other_method = await client.post("/v1/things/abc", json={})
    assert plain.json() == {"tid": "abc"} and app.middleware_stack is not None
    assert other_method.status_code == 405  # not the lean route: FastAPI's router answers


async def test_the_latency_metric_counts_lean_routes_by_their_template() -> None:
    labels = {"service": "svc-test", "method": "GET", "route": "/v1/things/{tid}",
              "status": "200"}
    before = REGISTRY.get_sample_value("cairn_http_request_duration_seconds_count", labels) or 0
    async with client_of(service_app()) as client:
        for _ in range(3):
            assert (await client.get("/v1/things/abc", headers=bearer("abc"))).status_code == 200
    assert REGISTRY.get_sample_value("cairn_http_request_duration_seconds_count", labels) == before + 3


async def test_found_under_a_mount_and_behind_a_gateway_that_strips_the_prefix() -> None:
    parent = Starlette(routes=[Mount("/svc", app=service_app())])
    async with client_of(parent) as client:
        mounted = await client.get("/svc/v1/things/abc", headers=bearer("abc"))
    assert (mounted.status_code, mounted.text) == (200, "abc|abc|None|/svc/v1/things/abc")
    async with client_of(service_app(), root_path="/svc") as client:  # uvicorn --root-path
        stripped = await client.get("/v1/things/abc", headers=bearer("abc"))
    assert stripped.status_code == 200


def test_no_middleware_a_lean_route_would_skip() -> None:
    app = service_app()
    with pytest.raises(RuntimeError, match="only middleware is EdgeMiddleware"):
        app.add_middleware(BaseHTTPMiddleware, dispatch=lambda request, call_next: None)


NUL = {"field": "body", "reason": "invalid_character", "message": "U+0000 (NUL) is not allowed"}


@pytest.mark.parametrize(("body", "refused"), [
    (b'{"name": "Uni\\u0000"}', True),  # the JSON escape of U+0000
    (b'{"name": "a\\\\\\u0000"}', True),  # an escaped backslash, then the escape
    (b'{"name": "a\\\\u0000"}', False),  # an escaped backslash, then the text "u0000"
    (b'{"name": "\\u00001"}', True),
    (b'{"name": "Uni \\u0001"}', False),
])
async def test_a_body_with_u0000_is_refused_at_the_edge_before_the_app(body, refused) -> None:
    """PostgreSQL text cannot hold U+0000: a string with it was a 500 wherever it reached
    the database (a member's name in the catalogue). The edge refuses it for every
    service; any other body reaches the app whole, as sent."""
    async with client_of(service_app()) as client:
        answer = await client.post("/v1/echo", content=body,
                                   headers={"content-type": "application/json"})
    if refused:
        assert (answer.status_code, answer.json()["errors"]) == (422, [NUL])
        assert answer.headers["content-type"] == "application/problem+json"
    else:
        assert (answer.status_code, answer.content) == (200, body)


async def test_a_body_sent_in_chunks_reaches_the_app_whole() -> None:
    async def chunks():
        for part in (b'{"a": "', b"x" * 70_000, b'", "b": "\\u0', b'000"}'):
            yield part
    async with client_of(service_app()) as client:
        split = await client.post("/v1/echo", content=chunks(),
                                  headers={"content-type": "application/json"})
        whole = await client.post("/v1/echo", content=b'{"a": "' + b"x" * 70_000 + b'"}',
                                  headers={"content-type": "application/json"})
    assert (split.status_code, split.json()["errors"]) == (422, [NUL])  # across chunks
    assert whole.status_code == 200 and len(whole.content) == 70_009


async def test_a_body_in_chunks_past_the_limit_is_413(monkeypatch) -> None:
    """No Content-Length to refuse it by (transfer-encoding: chunked): the edge counts."""
    monkeypatch.setattr(http, "MAX_BODY_BYTES", 1000)

    async def chunks():
        for _ in range(50):
            yield b"x" * 100
    async with client_of(service_app()) as client:
        answer = await client.post("/v1/echo", content=chunks(),
                                   headers={"content-type": "application/json"})
        fits = await client.post("/v1/echo", content=b"[" + b"1," * 400 + b"1]",
                                 headers={"content-type": "application/json"})
    assert (answer.status_code, answer.json()["code"]) == (413, "payload_too_large")
    assert fits.status_code == 200


@pytest.mark.parametrize(("path", "field"), [
    ("/v1/things/ab%00c?at_least=1", "path"),
    ("/v1/things/abc?at_least=1&q=a%00b", "query.q"),
    ("/v1/plain/a%00", "path"),
])
async def test_u0000_in_the_path_or_the_query_is_refused_naming_where(path, field) -> None:
    async with client_of(service_app()) as client:
        answer = await client.get(path, headers=bearer("abc"))
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == [field]
