"""Registering learners (R-MB-2) on real PostgreSQL: `POST /v1/learners/batch` per-item
outcomes, a retry that changes nothing, tenancy as one 403 that writes nothing, bad
bodies as problem+json, and `cairn.ledger.learner.registered.v1` in the ledger's outbox
exactly once per created or changed registration (the PUT's too)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from ledger.adapters.tables import learners, outbox
from shared.contracts import decode_event, payload_of
from shared.contracts.events import LearnerRegisteredV1
from shared.messaging.kafka_bus import KafkaBus
from shared.messaging.relay import outbox_relay
from tests.integration.test_ledger_events import ledger_events_for
from tests.plugins.services import ADMIN, auth, unique

pytestmark = pytest.mark.integration
URL = "/v1/learners/batch"
REGISTERED = "cairn.ledger.learner.registered.v1"


@pytest.fixture
def inst():
    iid = unique("uni")
    return iid, auth("institution", iid)


def item(lid: str, home: str, associate: bool = False, **extra) -> dict:
    return {"learner_id": lid, "home_member": home, "associate": associate, **extra}


async def stored(app, lids: list[str]) -> dict[str, tuple[str, bool, int]]:
    async with app.state.ctx.engine.connect() as conn:
        rows = await conn.execute(select(learners).where(learners.c.learner_id.in_(lids)))
        return {r.learner_id: (r.home_member, r.associate, r.revision) for r in rows}


async def events(app, lids: list[str]) -> list[LearnerRegisteredV1]:
    """The registered events in the outbox for these learners, in outbox order."""
    async with app.state.ctx.engine.connect() as conn:
        rows = (await conn.execute(
            select(outbox.c.key, outbox.c.topic, outbox.c.event_type, outbox.c.payload)
            .where(outbox.c.key.in_(lids)).order_by(outbox.c.id))).all()
    found = []
    for row in rows:
        event = decode_event(row.payload)
        assert (row.topic, row.event_type, event.type) == ("ledger.events", REGISTERED, REGISTERED)
        assert event.subject == row.key
        payload = payload_of(event)
        assert isinstance(payload, LearnerRegisteredV1) and payload.learner_id == row.key
        found.append(payload)
    return found


async def test_each_item_has_its_outcome_and_a_retry_changes_nothing(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    a, b, c = unique("L"), unique("L"), unique("L")
    assert (await client.put(f"/v1/learners/{b}", json={"home_member": iid},
                             headers=me)).status_code == 201
    assert (await client.put(f"/v1/learners/{c}", json={"home_member": iid, "associate": True},
                             headers=me)).status_code == 201
    body = {"learners": [
        item(a, iid, True),                       # new
        item(b, iid, True),                       # associate now: changed
        item(c, iid, True),                       # as stored
        item("-bad", iid),                        # learner id pattern
        item(unique("L"), iid, associate="yes"),  # not a boolean
        {"learner_id": unique("L")},              # no home member
        item(unique("L"), iid, colour="blue"),    # unknown field
        "not an object",
        item(a, iid, True),                       # a again, the same: nothing more to do
        item(a, iid, False),                      # a again, otherwise: which one?
    ]}
    first = await client.post(URL, json=body, headers=me)
    assert first.status_code == 200, first.text
    got = first.json()
    assert [r["outcome"] for r in got["learners"]] == [
        "created", "updated", "unchanged", "rejected", "rejected", "rejected", "rejected",
        "rejected", "unchanged", "rejected"]
    assert got["counts"] == {"created": 1, "updated": 1, "unchanged": 2, "rejected": 6}
    assert [r["index"] for r in got["learners"]] == list(range(10))
    assert [r.get("revision") for r in got["learners"]] == [
        1, 2, 1, None, None, None, None, None, 1, None]
    fields = [[e["field"] for e in r.get("errors", [])] for r in got["learners"]]
    assert fields[3:8] == [["learner_id"], ["associate"], ["home_member"], ["colour"], ["body"]]
    assert fields[9] == ["learner_id"] and got["learners"][9]["errors"][0]["reason"] == (
        "repeated_in_batch")
    assert await stored(app, [a, b, c]) == {a: (iid, True, 1), b: (iid, True, 2),
                                             c: (iid, True, 1)}

    retry = (await client.post(URL, json=body, headers=me)).json()
    assert [r["outcome"] for r in retry["learners"]] == [
        "unchanged", "unchanged", "unchanged", "rejected", "rejected", "rejected", "rejected",
        "rejected", "unchanged", "rejected"]
    assert [r.get("revision") for r in retry["learners"]] == [
        r.get("revision") for r in got["learners"]]
    assert await stored(app, [a, b, c]) == {a: (iid, True, 1), b: (iid, True, 2),
                                             c: (iid, True, 1)}
    # one event per created or changed registration (the PUTs' two, then the batch's two)
    assert [(e.learner_id, e.revision, e.associate) for e in await events(app, [a, b, c])] == [
        (b, 1, False), (c, 1, True), (a, 1, True), (b, 2, True)]


async def test_the_put_emits_on_create_and_change_only(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lid = unique("L")
    for associate, status in ((False, 201), (False, 200), (True, 200), (True, 200)):
        response = await client.put(f"/v1/learners/{lid}", headers=me,
                                    json={"home_member": iid, "associate": associate})
        assert response.status_code == status, response.text
    assert response.json() == {"learner_id": lid, "home_member": iid, "associate": True,
                               "revision": 2, "outcome": "unchanged"}
    assert [(e.revision, e.home_member, e.associate) for e in await events(app, [lid])] == [
        (1, iid, False), (2, iid, True)]


async def test_wrong_tenant_is_403_for_the_whole_request_and_writes_nothing(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    other = unique("uni")
    theirs, fresh = unique("L"), unique("L")
    assert (await client.put(f"/v1/learners/{theirs}", json={"home_member": other},
                             headers=auth("institution", other))).status_code == 201
    # an item naming another home member: refused before anything is read
    naming = await client.post(URL, headers=me, json={"learners": [
        item(fresh, iid), item(unique("L"), other)]})
    assert (naming.status_code, naming.json()["code"]) == (403, "wrong_tenant")
    assert naming.headers["content-type"] == "application/problem+json"
    assert naming.json()["index"] == 1
    # another member's learner, moved to me: refused once it is read, nothing written
    moving = await client.post(URL, headers=me, json={"learners": [
        item(fresh, iid), item(theirs, iid, True)]})
    assert (moving.status_code, moving.json()["code"]) == (403, "wrong_tenant")
    assert moving.json()["index"] == 1
    many = [unique("L") for _ in range(100)]  # a big batch decides before locking: the same
    big = await client.post(URL, headers=me, json={"learners": [
        *(item(lid, iid) for lid in many), item(theirs, iid)]})
    assert (big.status_code, big.json()["index"]) == (403, 100)
    assert await stored(app, [fresh, theirs, *many]) == {theirs: (other, False, 1)}
    assert [e.learner_id for e in await events(app, [fresh, theirs, *many])] == [theirs]
    # a learner may not register anyone; an administrator may move a learner
    assert (await client.post(URL, headers=auth("learner", fresh), json={"learners": [
        item(fresh, iid)]})).status_code == 403
    moved = await client.post(URL, headers=ADMIN, json={"learners": [
        item(fresh, other), item(theirs, iid, True)]})
    assert [r["outcome"] for r in moved.json()["learners"]] == ["created", "updated"]
    assert await stored(app, [fresh, theirs]) == {fresh: (other, False, 1),
                                                  theirs: (iid, True, 2)}


@pytest.mark.parametrize(("send", "status", "field"), [
    ({"learners": []}, 422, "learners"),
    ({"learners": {"a": 1}}, 422, "learners"),
    ({}, 422, "learners"),
    ({"learners": [{"learner_id": "L1", "home_member": "x"}], "mode": "fast"}, 422, "mode"),
    ([{"learner_id": "L1", "home_member": "x"}], 422, "body"),
])
async def test_a_bad_body_is_a_problem_naming_the_field(ledger_api, inst, send, status, field):
    _, client = ledger_api
    _, me = inst
    response = await client.post(URL, json=send, headers=me)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


async def test_malformed_json_wrong_content_type_and_10001_items_write_nothing(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lids = [f"{unique('L')}-{i}" for i in range(10_001)]
    broken = await client.post(URL, content=b'{"learners": [', headers={
        **me, "content-type": "application/json"})
    assert (broken.status_code, broken.json()["code"]) == (400, "malformed_json")
    assert broken.headers["content-type"] == "application/problem+json"
    wrong_type = await client.post(URL, content=b"learners=1", headers={
        **me, "content-type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415
    too_many = await client.post(URL, headers=me, json={"learners": [
        item(lid, iid) for lid in lids]})
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["learners"]
    assert await stored(app, lids) == {}
    assert await events(app, lids) == []


async def test_10000_learners_in_one_request_each_event_once(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lids = [f"{unique('L')}-{i:05d}" for i in range(10_000)]
    body = {"learners": [item(lid, iid, i % 10 == 0) for i, lid in enumerate(lids)]}
    first = await client.post(URL, json=body, headers=me)
    assert first.json()["counts"] == {"created": 10_000, "updated": 0, "unchanged": 0,
                                      "rejected": 0}
    again = await client.post(URL, json=body, headers=me)
    assert again.json()["counts"]["unchanged"] == 10_000
    async with app.state.ctx.engine.connect() as conn:
        per_key = (await conn.execute(
            select(outbox.c.key, func.count()).where(outbox.c.key.in_(lids))
            .group_by(outbox.c.key))).all()
    assert len(per_key) == 10_000 and {n for _, n in per_key} == {1}


async def test_concurrent_batches_on_the_same_learners_count_each_change_once(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lids = [unique("L") for _ in range(200)]  # big enough to be planned before locking
    body = {"learners": [item(lid, iid, True) for lid in lids]}
    answers = await asyncio.gather(*(client.post(URL, json=body, headers=me) for _ in range(4)))
    outcomes = [r["outcome"] for a in answers for r in a.json()["learners"]]
    assert outcomes.count("created") == 200 and outcomes.count("unchanged") == 600
    assert len(await events(app, lids)) == 200
    assert {v[2] for v in (await stored(app, lids)).values()} == {1}


async def test_registered_events_reach_ledger_events_keyed_by_learner(ledger_api, inst, engine,
                                                                      kafka_bootstrap):
    """Through the ledger's outbox relay to a real broker."""
    _, client = ledger_api
    iid, me = inst
    a, b = unique("L"), unique("L")
    await client.post(URL, headers=me, json={"learners": [item(a, iid), item(b, iid)]})
    await client.post(URL, headers=me, json={"learners": [item(a, iid, True), item(b, iid)]})
    bus = KafkaBus(kafka_bootstrap, client_id="ledger-learners-test")
    await bus.ensure_topics(["ledger.events"], 6)
    stop = asyncio.Event()
    relay = outbox_relay(engine, outbox, bus.publisher(), service="ledger", batch_size=500)
    task = asyncio.create_task(relay.run(stop))
    try:
        records = await ledger_events_for(bus, {a, b}, expected=3)
    finally:
        stop.set()
        await task
    got = sorted((r.key.decode(), payload_of(decode_event(r.value)).revision) for r in records)
    assert got == sorted([(a, 1), (a, 2), (b, 1)])
