"""Lean routes (shared.http.LeanRoute): served without FastAPI's dependency solving, yet
the same contract as any route — 401 without a good token, 422 problems naming a bad
path or query parameter, the parameters in OpenAPI — and the verified-token cache is
exactly as strict as a check."""

from __future__ import annotations

import time
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Body, FastAPI, Path, Query, Request, Response

from shared.auth import Caller, TokenCache, mint_token
from shared.errors import Problem, install_error_handlers
from shared.http import lean
from shared.settings import ServiceSettings

SECRET = "s" * 40


def app_with(router: APIRouter) -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    app.include_router(router)
    app.state.settings = ServiceSettings(CAIRN_AUTH_SECRET=SECRET)
    return app


router = APIRouter(prefix="/v1")


@lean(router, "GET", "/things/{tid}", summary="A thing")
async def get_thing(tid: Annotated[str, Path(pattern=r"^[a-z]+$")], caller: Caller,
                    request: Request,
                    at_least: Annotated[int | None, Query(ge=0)] = None) -> Response:
    return Response(f"{tid}|{caller.subject}|{at_least}|{request.method}")


@pytest.fixture
async def client():
    transport = httpx.ASGITransport(app=app_with(router))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
        yield c


def bearer(subject: str = "L1", ttl: int = 60) -> dict[str, str]:
    return {"authorization": f"Bearer {mint_token(SECRET, subject, 'learner', ttl)}"}


async def test_parameters_and_caller_reach_the_endpoint(client) -> None:
    ok = await client.get("/v1/things/abc", params={"at_least": "3"}, headers=bearer())
    assert (ok.status_code, ok.text) == (200, "abc|L1|3|GET")
    default = await client.get("/v1/things/abc", headers=bearer())
    assert default.text == "abc|L1|None|GET"


@pytest.mark.parametrize("headers", [{}, {"authorization": "Basic abc"},
                                     {"authorization": "Bearer not-a-jwt"}])
async def test_no_good_token_is_401_before_anything_else(client, headers) -> None:
    response = await client.get("/v1/things/ABC", params={"at_least": "-1"}, headers=headers)
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/things/ABC", {}, "tid"), ("/v1/things/abc", {"at_least": "-1"}, "at_least"),
    ("/v1/things/abc", {"at_least": "many"}, "at_least")])
async def test_a_bad_parameter_is_a_422_problem_naming_it(client, path, params, field) -> None:
    response = await client.get(path, params=params, headers=bearer())
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert field in response.text


def test_openapi_documents_a_lean_route_like_any_other() -> None:
    operation = app_with(router).openapi()["paths"]["/v1/things/{tid}"]["get"]
    assert operation["summary"] == "A thing"
    assert {p["name"] for p in operation["parameters"]} == {"tid", "at_least"}
    assert operation.get("security")  # the bearer scheme, from the Caller dependency


def test_a_lean_route_refuses_a_body_parameter() -> None:
    other = APIRouter()
    with pytest.raises(TypeError, match="lean route"):
        @lean(other, "POST", "/x")
        async def post_x(body: Annotated[dict, Body()], caller: Caller) -> Response:
            return Response()


def test_the_token_cache_still_refuses_an_expired_token() -> None:
    cache = TokenCache()
    token = mint_token(SECRET, "L1", "learner", ttl_seconds=1)
    assert cache.principal(SECRET, token).subject == "L1"
    time.sleep(2.1)  # exp has whole seconds: past it for sure
    with pytest.raises(Problem) as expired:
        cache.principal(SECRET, token)  # cached, but past its exp
    assert (expired.value.status, expired.value.code) == (401, "token_expired")


def test_the_token_cache_does_not_carry_over_to_another_secret() -> None:
    cache = TokenCache()
    token = mint_token(SECRET, "L1", "learner")
    cache.principal(SECRET, token)
    with pytest.raises(Problem):
        cache.principal("t" * 40, token)


def test_a_full_token_cache_drops_the_oldest_verified_one_at_a_time() -> None:
    cache = TokenCache(max_size=4)
    tokens = [mint_token(SECRET, f"L{i}", "learner") for i in range(6)]
    for token in tokens[:4]:
        cache.principal(SECRET, token)
    cache.principal(SECRET, tokens[0])  # a hit does not make it newer: verified first
    cache.principal(SECRET, tokens[4])
    assert [t in cache for t in tokens] == [False, True, True, True, True, False]
    cache.principal(SECRET, tokens[5])
    assert [t in cache for t in tokens] == [False, False, True, True, True, True]
    assert len(cache) == 4


def test_an_expired_token_leaves_the_cache_when_presented() -> None:
    cache = TokenCache(max_size=4)
    soon = mint_token(SECRET, "S", "learner", ttl_seconds=1)
    cache.principal(SECRET, soon)
    time.sleep(2.1)  # past its exp
    with pytest.raises(Problem):
        cache.principal(SECRET, soon)
    assert soon not in cache and len(cache) == 0


class _LockTableFull(Exception):
    sqlstate = "53200"  # what asyncpg raises when PostgreSQL's lock table is full


@router.get("/crowded")
async def crowded() -> Response:
    try:
        raise _LockTableFull("out of shared memory")
    except _LockTableFull as error:  # as SQLAlchemy wraps a driver error
        raise RuntimeError("wrapped") from error


async def test_a_database_out_of_room_is_a_503_to_retry() -> None:
    # Starlette sends the handler's answer, then re-raises for the server to log
    transport = httpx.ASGITransport(app=app_with(router), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get("/v1/crowded")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json()["code"] == "database_busy"
