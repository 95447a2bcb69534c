"""The body budget (shared.admission): large requests past it wait in line, first come
first served, and one that waits too long is a 503 `overloaded` with Retry-After, its body
never read; small bodies and reads are never held up."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from dataclasses import replace

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request, Response
from prometheus_client import REGISTRY

from shared.admission import Admission, AdmissionLimits, Overloaded
from shared.http import create_service_app

LIMITS = AdmissionLimits(budget_bytes=1000, wait_seconds=5.0, small=100)


def admission(**changes) -> Admission:
    return Admission(replace(LIMITS, **changes), "svc-admission")


async def hold(gate: Admission, weight: int, started: list[int], release: asyncio.Event,
               name: int) -> None:
    async with gate.admitted(weight):
        started.append(name)
        await release.wait()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def test_a_request_is_weighed_by_its_declared_length() -> None:
    gate = admission()
    assert [gate.weight(n) for n in (0, 99, 100, 5000)] == [0, 0, 100, 5000]
    assert gate.weight(None) == 1000  # chunked: length unknown, the whole budget


async def test_within_the_budget_requests_go_at_once_past_it_they_wait_their_turn() -> None:
    gate, started, release = admission(), [], asyncio.Event()
    first = asyncio.create_task(hold(gate, 600, started, release, 1))
    second = asyncio.create_task(hold(gate, 400, started, release, 2))
    await settle()
    assert (started, gate.in_flight) == ([1, 2], 1000)
    third = asyncio.create_task(hold(gate, 500, started, release, 3))
    await settle()
    assert (started, gate.waiting) == ([1, 2], 1)
    release.set()
    await asyncio.gather(first, second, third)
    assert (started, gate.in_flight, gate.waiting) == ([1, 2, 3], 0, 0)


async def test_first_come_first_served_no_smaller_request_overtakes() -> None:
    gate, started = admission(), []
    releases = {n: asyncio.Event() for n in (1, 2, 3)}
    first = asyncio.create_task(hold(gate, 700, started, releases[1], 1))
    await settle()
    big = asyncio.create_task(hold(gate, 900, started, releases[2], 2))
    await settle()
    small = asyncio.create_task(hold(gate, 200, started, releases[3], 3))  # would fit
    await settle()
    assert started == [1] and gate.waiting == 2
    releases[1].set()
    await settle()
    assert started == [1, 2]  # the big one's turn came first; the small one still waits
    releases[2].set()
    releases[3].set()
    await asyncio.gather(first, big, small)
    assert started == [1, 2, 3]


async def test_a_request_heavier_than_the_budget_goes_through_alone() -> None:
    gate, started, release = admission(), [], asyncio.Event()
    release.set()
    await hold(gate, 5000, started, release, 1)
    assert (started, gate.in_flight) == ([1], 0)


async def test_small_bodies_are_never_held_up() -> None:
    gate, started, release = admission(), [], asyncio.Event()
    full = asyncio.create_task(hold(gate, 1000, started, release, 1))
    await settle()
    async with gate.admitted(gate.weight(99)):
        started.append(2)
    assert started == [1, 2]
    release.set()
    await full


async def test_one_that_waits_too_long_is_overloaded_and_leaves_the_line() -> None:
    gate, started, release = admission(wait_seconds=0.05), [], asyncio.Event()
    full = asyncio.create_task(hold(gate, 800, started, release, 1))
    await settle()
    refused = REGISTRY.get_sample_value("cairn_http_admission_refused_total",
                                        {"service": "svc-admission"}) or 0
    with pytest.raises(Overloaded) as raised:
        await hold(gate, 500, started, release, 2)
    assert (raised.value.status, raised.value.code) == (503, "overloaded")
    assert raised.value.extra == {"retry_after": 5}
    assert (gate.waiting, gate.in_flight, started) == (0, 800, [1])
    assert REGISTRY.get_sample_value("cairn_http_admission_refused_total",
                                     {"service": "svc-admission"}) == refused + 1
    release.set()
    await full
    assert gate.in_flight == 0


async def test_one_that_gives_up_in_line_lets_those_behind_it_through() -> None:
    gate, started = admission(), []
    releases = {n: asyncio.Event() for n in (1, 2, 3)}
    first = asyncio.create_task(hold(gate, 700, started, releases[1], 1))
    await settle()
    blocking = asyncio.create_task(hold(gate, 900, started, releases[2], 2))
    await settle()
    behind = asyncio.create_task(hold(gate, 300, started, releases[3], 3))
    await settle()
    blocking.cancel()  # its client went away
    await settle()
    assert (started, gate.waiting, gate.in_flight) == ([1, 3], 0, 1000)
    releases[1].set()
    releases[3].set()
    await asyncio.gather(first, behind)
    assert blocking.cancelled() and gate.in_flight == 0


async def test_cancelled_just_after_its_turn_came_it_hands_the_bytes_back() -> None:
    gate, started = admission(), []
    releases = {n: asyncio.Event() for n in (1, 2)}
    first = asyncio.create_task(hold(gate, 700, started, releases[1], 1))
    await settle()
    second = asyncio.create_task(hold(gate, 700, started, releases[2], 2))
    await settle()
    releases[1].set()
    await first  # the second's turn is granted now, before it has run again
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    assert (gate.in_flight, gate.waiting, started) == (0, 0, [1])


# Through HTTP: the same budget for every route of the app, lean or not.

router = APIRouter(prefix="/v1")
GATES: dict[str, asyncio.Event] = {}
SEEN: list[int] = []


@router.post("/slow")
async def post_slow(request: Request) -> Response:
    body = await request.body()
    SEEN.append(len(body))
    await GATES["slow"].wait()
    return Response(b"{}", media_type="application/json")


@router.get("/quick")
async def get_quick() -> dict[str, str]:
    return {"ok": "yes"}


@asynccontextmanager
async def _lifespan(app: FastAPI):
    yield


def json_of(size: int) -> bytes:
    return b'{"a": "' + b"x" * (size - 9) + b'"}'


async def test_over_http_a_large_request_waits_then_is_refused_unread_reads_go_on() -> None:
    app = create_service_app(service="svc-admission-http", title="t", description="t",
                             version="1", lifespan=_lifespan, routers=[router],
                             admission=AdmissionLimits(budget_bytes=1000, wait_seconds=0.2,
                                                       small=100))
    GATES["slow"], SEEN[:] = asyncio.Event(), []
    json = {"content-type": "application/json"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://t") as client:
        first = asyncio.create_task(client.post("/v1/slow", content=json_of(800), headers=json))
        for _ in range(50):
            if SEEN:
                break
            await asyncio.sleep(0.01)
        refused = await client.post("/v1/slow", content=json_of(500), headers=json)
        quick = await client.get("/v1/quick")
        GATES["slow"].set()
        small = await client.post("/v1/slow", content=json_of(50), headers=json)
        done = await first
    assert (refused.status_code, refused.json()["code"]) == (503, "overloaded")
    assert refused.headers["retry-after"] == "5"
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.headers["x-request-id"]
    assert (quick.status_code, small.status_code, done.status_code) == (200, 200, 200)
    assert SEEN == [800, 50]  # the refused body never reached the app


def test_the_lean_routes_and_the_others_share_one_budget() -> None:
    app = create_service_app(service="svc-admission-shared", title="t", description="t",
                             version="1", lifespan=_lifespan, routers=[router])
    edge = app.user_middleware[0].kwargs["admission"]
    assert app._hot_app.admission is edge  # type: ignore[attr-defined]
    assert edge.limits == AdmissionLimits()  # the defaults, as ServiceSettings has them
