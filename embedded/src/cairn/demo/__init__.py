"""The demo consortium, loaded through the public HTTP API (DESIGN §7).

`seed_demo(app)` is called by the embedded default on every start, after the services'
lifespans have started. It is idempotent: publishing unchanged content answers 200 and
writes nothing (R-MB-1, R-CAT-2, R-CAT-3), so a restart reports everything "unchanged".
It uses the same calls any client would: an admin token for the members, each member's
own token for its courses and equivalences."""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import structlog
from fastapi import FastAPI

from cairn.demo.consortium import (
    ADMIN_SUBJECT,
    COURSES,
    DEMO_PRINCIPALS,
    EQUIVALENCES,
    LEARNERS,
    MEMBERS,
)
from cairn.demo.learners import corrected_result, results_by_member, revocation
from shared.auth import mint_token

__all__ = ["DEMO_PRINCIPALS", "LEARNERS", "DemoSeedError", "seed_demo"]

log = structlog.get_logger(__name__)

BASE_URL = "http://cairn.local"
CATALOGUE = "/catalogue/v1"
LEDGER = "/ledger/v1"


class DemoSeedError(RuntimeError):
    """A seeding call answered other than 200/201."""

    def __init__(self, method: str, path: str, response: httpx.Response) -> None:
        super().__init__(f"demo seed failed: {method} {path} answered {response.status_code}: "
                         f"{response.text[:2000]}")
        self.method, self.path, self.status_code = method, path, response.status_code
        self.body = response.text


def _secret(app: FastAPI) -> str:
    return app.state.sub_apps["catalogue"].state.settings.auth_secret.get_secret_value()


class _Seeder:
    def __init__(self, client: httpx.AsyncClient, secret: str) -> None:
        self.client = client
        self.secret = secret
        self.counts: dict[str, Counter[str]] = {
            "members": Counter(), "courses": Counter(), "versions": Counter(),
            "equivalences": Counter(), "learners": Counter(), "results": Counter()}
        self._tokens: dict[tuple[str, str], str] = {}

    def _auth(self, role: str, subject: str) -> dict[str, str]:
        key = (role, subject)
        if key not in self._tokens:
            self._tokens[key] = mint_token(self.secret, subject, role, ttl_seconds=3600)
        return {"Authorization": f"Bearer {self._tokens[key]}"}

    async def put(self, path: str, body: dict[str, Any], role: str, subject: str,
                  base: str = CATALOGUE) -> dict:
        return await self._send("PUT", base + path, body, role, subject)

    async def _send(self, method: str, path: str, body: dict[str, Any], role: str,
                    subject: str) -> dict:
        response = await self.client.request(method, path, json=body,
                                             headers=self._auth(role, subject))
        if response.status_code not in (200, 201):
            raise DemoSeedError(method, path, response)
        return response.json()

    async def versions(self, iid: str, code: str) -> list[dict]:
        path = f"{CATALOGUE}/institutions/{iid}/courses/{code}/versions"
        response = await self.client.get(path, headers=self._auth("institution", iid))
        if response.status_code == 404:
            return []
        if response.status_code != 200:
            raise DemoSeedError("GET", path, response)
        return response.json()

    async def members(self) -> None:
        for iid, body in MEMBERS.items():
            out = await self.put(f"/institutions/{iid}", body, "admin", ADMIN_SUBJECT)
            self.counts["members"][out.get("outcome") or "unchanged"] += 1

    async def courses(self) -> None:
        for iid, code, history in COURSES:
            # R-CAT-2: a course with a history is published version by version the first
            # time. Once it exists, only its newest content is published again (a no-op
            # when unchanged): re-publishing an older version would make it the newest.
            todo = history if not await self.versions(iid, code) else history[-1:]
            outcomes = [(await self.put(f"/institutions/{iid}/courses/{code}", body,
                                        "institution", iid)).get("outcome") or "unchanged"
                        for body in todo]
            self.counts["versions"]["created"] += outcomes.count("created")
            self.counts["courses"]["created" if "created" in outcomes else "unchanged"] += 1

    async def equivalences(self) -> None:
        for iid, eid, body in EQUIVALENCES:
            out = await self.put(f"/institutions/{iid}/equivalences/{eid}", body,
                                 "institution", iid)
            self.counts["equivalences"][out.get("outcome") or "unchanged"] += 1

    async def learners(self) -> None:
        for body in LEARNERS:
            lid = body["learner_id"]
            out = await self.put(f"/learners/{lid}", {k: v for k, v in body.items()
                                                      if k != "learner_id"},
                                 "admin", ADMIN_SUBJECT, base=LEDGER)
            self.counts["learners"][out.get("outcome") or "unchanged"] += 1

    async def results(self) -> None:
        """Results are idempotent (R-LG-2): a restart answers "duplicate" for each."""
        for iid, batch in results_by_member().items():
            out = await self._send("POST", f"{LEDGER}/results/batch", {"results": batch},
                                   "institution", iid)
            for outcome, n in out["counts"].items():
                self.counts["results"][outcome] += n
        iid, achievement, body = corrected_result()  # R-LG-3; an identical one is a no-op
        await self._send("POST", f"{LEDGER}/achievements/{achievement}/corrections", body,
                         "institution", iid)
        iid, achievement, body = revocation()  # retried with the same reason: 200
        await self._send("POST", f"{LEDGER}/achievements/{achievement}/revocation", body,
                         "institution", iid)


async def seed_demo(app: FastAPI) -> dict[str, dict[str, int]]:
    """Publish the demo consortium through the API of `app` (the embedded parent app,
    with the services mounted under /catalogue, /ledger, /transfer, /award). Returns the
    counts by outcome; raises DemoSeedError on any answer other than 200/201."""
    transport = httpx.ASGITransport(app=app)
    with _quiet_httpx():
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL,
                                     timeout=60.0) as client:
            seeder = _Seeder(client, _secret(app))
            await seeder.members()
            await seeder.courses()  # units before the composites that list them (R-CAT-4)
            await seeder.equivalences()  # both sides must exist (R-CAT-3)
            await seeder.learners()
            await seeder.results()
    counts = {kind: dict(counter) for kind, counter in seeder.counts.items()}
    log.info("demo.seeded",
             members=_fmt(seeder.counts["members"]), courses=_fmt(seeder.counts["courses"]),
             course_versions_created=seeder.counts["versions"]["created"],
             equivalences=_fmt(seeder.counts["equivalences"]),
             learners=_fmt(seeder.counts["learners"]), results=_fmt(seeder.counts["results"]))
    return counts


def _fmt(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {outcome}" for outcome, n in sorted(counter.items())) or "none"


@contextlib.contextmanager
def _quiet_httpx() -> Iterator[None]:
    """httpx logs every request at INFO: about a hundred lines per start. The summary
    line says what happened; failures raise DemoSeedError with the request and answer."""
    logger = logging.getLogger("httpx")
    previous = logger.level
    logger.setLevel(max(logging.WARNING, previous))
    try:
        yield
    finally:
        logger.setLevel(previous)
