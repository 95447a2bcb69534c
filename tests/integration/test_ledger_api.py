"""The ledger's HTTP API on real PostgreSQL: recording (R-LG-1/2) single and batch,
tenancy, bad input as problem+json that writes nothing, corrections and revocations
(R-LG-3), the statement and its tenancy, the hash chain and a tamper test (R-LG-4),
concurrent batches on the same learners."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text

from ledger.adapters.tables import entries
from tests.plugins.services import ADMIN, auth, unique

pytestmark = pytest.mark.integration


def result(inst: str, learner: str, rid: str, **changes) -> dict:
    body = {"result_id": rid, "learner_id": learner, "institution_id": inst,
            "course": {"institution_id": inst, "code": "DS701"},
            "title": "Data Science Foundations", "credit": {"value": "15", "scheme": "CATS"},
            "level": {"framework": "FHEQ", "value": 7},
            "subjects": [{"hecos": "100366", "percent": 100}],
            "grade": {"scale": "UK-PERCENT", "value": "68"}, "assessed_on": "2026-06-20",
            "origin": "member"}
    return {**body, **changes}


@pytest.fixture
def inst():
    iid = unique("uni")
    return iid, auth("institution", iid)


async def count(app, **where) -> int:
    query = select(func.count()).select_from(entries)
    for column, value in where.items():
        query = query.where(entries.c[column] == value)
    async with app.state.ctx.engine.connect() as conn:
        return (await conn.execute(query)).scalar_one()


async def record_two(client, iid: str, me: dict) -> str:
    """A new learner with results r1 and r2 from `iid`; the learner's id."""
    lid = unique("L")
    for rid in ("r1", "r2"):
        assert (await client.post("/v1/results", json=result(iid, lid, rid),
                                  headers=me)).status_code == 201
    return lid


# --- single results (R-LG-1, R-LG-2) --------------------------------------------------------

async def test_single_result_is_201_then_200_same_body_then_409(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lid = unique("L")
    first = await client.post("/v1/results", json=result(iid, lid, "r1"), headers=me)
    assert first.status_code == 201, first.text
    assert first.json()["achievement_id"] == f"{iid}:r1" and first.json()["ledger_seq"] == 1
    # "15.0" is the same number as "15": a resend, not a conflict (R-LG-2)
    again = await client.post("/v1/results", headers=me, json=result(
        iid, lid, "r1", credit={"value": "15.0", "scheme": "CATS"}))
    assert (again.status_code, again.json()) == (200, first.json())
    clash = await client.post("/v1/results", headers=me,
                              json=result(iid, lid, "r1", grade={"scale": "UK-PERCENT",
                                                                 "value": "70"}))
    assert clash.status_code == 409
    assert clash.headers["content-type"] == "application/problem+json"
    assert clash.json()["code"] == "result_id_conflict"
    second = await client.post("/v1/results", json=result(iid, lid, "r2"), headers=me)
    assert (second.status_code, second.json()["ledger_seq"]) == (201, 2)
    assert await count(app, learner_id=lid) == 2


async def test_an_institution_records_only_as_itself(ledger_api, inst):
    app, client = ledger_api
    iid, _ = inst
    lid = unique("L")
    other = auth("institution", unique("other"))
    single = await client.post("/v1/results", json=result(iid, lid, "r1"), headers=other)
    assert (single.status_code, single.json()["code"]) == (403, "wrong_tenant")
    batch = await client.post("/v1/results/batch", headers=other, json={"results": [
        result(iid.replace("uni", "x"), lid, "r1"), result(iid, lid, "r2")]})
    assert (batch.status_code, batch.json()["code"]) == (403, "wrong_tenant")
    assert (await client.post("/v1/results", json=result(iid, lid, "r1"),
                              headers=auth("learner", lid))).status_code == 403
    assert (await client.post("/v1/results", json=result(iid, lid, "r1"))).status_code == 401
    assert await count(app, learner_id=lid) == 0


@pytest.mark.parametrize(("change", "field"), [
    ({"credit": {"value": "15", "scheme": "XYZ"}}, "credit.scheme"),
    ({"credit": {"value": "-5", "scheme": "CATS"}}, "credit.value"),
    ({"level": {"framework": "FHEQ", "value": 11}}, "level.value"),
    ({"level": {"framework": "SCQF", "value": 3}}, "level.value"),
    ({"assessed_on": "2999-01-01"}, "assessed_on"),
    ({"assessed_on": "20 June"}, "assessed_on"),
    ({"title": None}, "title"),
    ({"colour": "blue"}, "colour"),
    ({"credit": {"value": 15.5, "scheme": "CATS"}}, "credit.value"),
    # Found by fuzzing the API: each was a 500 (the whole batch with it).
    ({"origin": {}}, "origin"),
    ({"origin": ["rpl"]}, "origin"),
    ({"credit": {}}, "credit.value"),
    ({"level": {}}, "level.value"),
])
async def test_bad_result_is_422_naming_the_field_and_writes_nothing(ledger_api, inst, change, field):
    app, client = ledger_api
    iid, me = inst
    lid = unique("L")
    body = {k: v for k, v in result(iid, lid, "r1", **change).items() if v is not None}
    response = await client.post("/v1/results", json=body, headers=me)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    batch = await client.post("/v1/results/batch", json={"results": [body]}, headers=me)
    assert batch.json()["results"][0]["outcome"] == "rejected"
    assert field in [e["field"] for e in batch.json()["results"][0]["errors"]]
    assert await count(app, learner_id=lid) == 0


async def test_missing_fields_are_each_named(ledger_api, inst):
    _, client = ledger_api
    iid, me = inst
    body = result(iid, unique("L"), "r1")
    for key in ("learner_id", "credit", "grade"):
        del body[key]
    response = await client.post("/v1/results", json=body, headers=me)
    assert response.status_code == 422
    assert {"learner_id", "credit", "grade"} <= {e["field"] for e in response.json()["errors"]}


async def test_malformed_json_wrong_content_type_and_oversized_batch(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lid = unique("L")
    broken = await client.post("/v1/results", content=b'{"result_id": ', headers={
        **me, "content-type": "application/json"})
    assert (broken.status_code, broken.json()["code"]) == (400, "malformed_json")
    assert broken.headers["content-type"] == "application/problem+json"
    wrong_type = await client.post("/v1/results", content=b"result_id=1", headers={
        **me, "content-type": "application/x-www-form-urlencoded"})
    assert wrong_type.status_code == 415
    too_many = await client.post("/v1/results/batch", headers=me, json={
        "results": [result(iid, lid, f"r{i}") for i in range(10_001)]})
    assert too_many.status_code == 422
    assert [e["field"] for e in too_many.json()["errors"]] == ["results"]
    empty = await client.post("/v1/results/batch", headers=me, json={"results": []})
    assert empty.status_code == 422
    assert await count(app, learner_id=lid) == 0


# --- batches ---------------------------------------------------------------------------------

async def test_batch_reports_each_item_and_a_retry_records_nothing_twice(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    a, b = unique("L"), unique("L")
    items = [result(iid, a, "r1"), result(iid, b, "r2"), result(iid, a, "r1"),
             result(iid, a, "r3", credit={"value": "0", "scheme": "CATS"}),
             result(iid, b, "r2", title="Something else"), result(iid, a, "r4")]
    first = await client.post("/v1/results/batch", json={"results": items}, headers=me)
    assert first.status_code == 200, first.text
    got = first.json()
    assert [r["outcome"] for r in got["results"]] == [
        "created", "created", "duplicate", "rejected", "conflict", "created"]
    assert got["counts"] == {"created": 3, "duplicate": 1, "conflict": 1, "rejected": 1}
    assert [r.get("ledger_seq") for r in got["results"]] == [1, 1, 1, None, None, 2]
    assert got["results"][3]["errors"][0]["field"] == "credit.value"
    retry = (await client.post("/v1/results/batch", json={"results": items}, headers=me)).json()
    assert [r["outcome"] for r in retry["results"]] == [
        "duplicate", "duplicate", "duplicate", "rejected", "conflict", "duplicate"]
    assert [r.get("ledger_seq") for r in retry["results"]] == [1, 1, 1, None, None, 2]
    assert (await count(app, learner_id=a), await count(app, learner_id=b)) == (2, 1)
    single = await client.post("/v1/results", json=result(iid, a, "r4"), headers=me)
    assert (single.status_code, single.json()["ledger_seq"]) == (200, 2)


async def test_a_dry_run_answers_each_item_as_the_push_will_and_writes_nothing(ledger_api,
                                                                               inst):
    """A registrar checks a batch before sending it: each item is decided as it would be
    recorded (R-LG-2, in-batch repeats included), `would_create` for a new result with
    the achievement id it gets, and nothing is written. The push then answers the same."""
    app, client = ledger_api
    iid, me = inst
    lid, new = await record_two(client, iid, me), unique("L")
    items = [result(iid, new, "n1"), result(iid, lid, "r1"),
             result(iid, lid, "r2", title="Renamed"), result(iid, new, "n1"),
             result(iid, new, "n2", credit={"value": "-5", "scheme": "CATS"}),
             result(iid, lid, "n3")]
    checked = await client.post("/v1/results/batch?dry_run=true", json={"results": items},
                                headers=me)
    assert checked.status_code == 200, checked.text
    got = checked.json()
    outcomes = ["would_create", "duplicate", "conflict", "duplicate", "rejected", "would_create"]
    assert (got["dry_run"], [r["outcome"] for r in got["results"]]) == (True, outcomes)
    assert got["counts"] == {"would_create": 2, "duplicate": 2, "conflict": 1, "rejected": 1}
    assert [(r.get("achievement_id"), r.get("ledger_seq")) for r in got["results"]] == [
        (f"{iid}:n1", None), (f"{iid}:r1", 1), (f"{iid}:r2", None), (f"{iid}:n1", None),
        (None, None), (f"{iid}:n3", None)]
    assert got["results"][4]["errors"][0]["field"] == "credit.value"
    assert (await count(app, learner_id=new), await count(app, learner_id=lid)) == (0, 2)

    pushed = (await client.post("/v1/results/batch", json={"results": items},
                                headers=me)).json()
    assert pushed["dry_run"] is False
    assert [r["outcome"] for r in pushed["results"]] == [
        "created" if o == "would_create" else o for o in outcomes]
    assert [r.get("achievement_id") for r in pushed["results"]] == [
        r.get("achievement_id") for r in got["results"]]
    assert (await count(app, learner_id=new), await count(app, learner_id=lid)) == (1, 3)
    again = (await client.post("/v1/results/batch?dry_run=true", json={"results": items},
                               headers=me)).json()
    assert [r["outcome"] for r in again["results"]] == [
        "duplicate", "duplicate", "conflict", "duplicate", "rejected", "duplicate"]
    assert [r.get("ledger_seq") for r in again["results"]] == [1, 1, None, 1, None, 3]


async def test_a_dry_run_checks_the_caller_as_a_push_does(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lid = unique("L")
    theirs = await client.post("/v1/results/batch?dry_run=true", headers=auth(
        "institution", unique("uni")), json={"results": [result(iid, lid, "r1")]})
    assert (theirs.status_code, theirs.json()["code"]) == (403, "wrong_tenant")
    learner = await client.post("/v1/results/batch?dry_run=true", headers=auth("learner", lid),
                                json={"results": [result(iid, lid, "r1")]})
    assert (learner.status_code, learner.json()["code"]) == (403, "role_forbidden")
    unclear = await client.post("/v1/results/batch?dry_run=perhaps", headers=me,
                                json={"results": [result(iid, lid, "r1")]})
    assert unclear.status_code == 422
    assert unclear.headers["content-type"] == "application/problem+json"
    assert "dry_run" in unclear.text
    assert await count(app, learner_id=lid) == 0


async def test_a_revocations_dry_run_answers_as_the_revocation_will_and_writes_nothing(
        ledger_api, inst):
    """R-LG-3: `?dry_run=true` on a revocation decides it exactly as sent now (the same
    refusals: 403 another member's, 404 none such, 409 revoked with another reason) and
    appends nothing; `would_revoke`, then after the revocation `duplicate`."""
    app, client = ledger_api
    iid, me = inst
    lid = await record_two(client, iid, me)
    check, revoke = (f"/v1/achievements/{iid}:r2/revocation?dry_run=true",
                     f"/v1/achievements/{iid}:r2/revocation")
    would = await client.post(check, json={"reason": "academic misconduct"}, headers=me)
    assert (would.status_code, would.json()) == (200, {
        "achievement_id": f"{iid}:r2", "learner_id": lid, "ledger_seq": None,
        "status": "revoked", "dry_run": True, "outcome": "would_revoke"})
    theirs = await client.post(check, json={"reason": "x"},
                               headers=auth("institution", unique("other")))
    assert theirs.status_code == 403
    missing = await client.post(f"/v1/achievements/{iid}:nope/revocation?dry_run=true",
                                json={"reason": "x"}, headers=me)
    assert (missing.status_code, missing.json()["code"]) == (404, "achievement_not_found")
    assert await count(app, learner_id=lid) == 2

    revoked = await client.post(revoke, json={"reason": "academic misconduct"}, headers=me)
    assert revoked.status_code == 201
    again = await client.post(check, json={"reason": "academic misconduct"}, headers=me)
    assert (again.status_code, again.json()["outcome"], again.json()["ledger_seq"]) == (
        200, "duplicate", revoked.json()["ledger_seq"])
    other = await client.post(check, json={"reason": "another reason"}, headers=me)
    assert (other.status_code, other.json()["code"]) == (409, "already_revoked")
    assert await count(app, learner_id=lid) == 3


async def test_concurrent_batches_on_the_same_learners_keep_valid_chains(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    learners = [unique("L") for _ in range(5)]

    def batch(tag: str) -> dict:
        return {"results": [result(iid, lid, f"{tag}-{lid}-{i}") for i in range(20)
                            for lid in learners]}

    replies = await asyncio.gather(*(client.post("/v1/results/batch", json=batch(t),
                                                 headers=me) for t in "abcd"))
    assert all(r.json()["counts"]["created"] == 100 for r in replies)
    # both sides again, concurrently: all duplicates, nothing written
    again = await asyncio.gather(*(client.post("/v1/results/batch", json=batch(t),
                                               headers=me) for t in "ab"))
    assert all(r.json()["counts"]["duplicate"] == 100 for r in again)
    for lid in learners:
        check = (await client.get(f"/v1/learners/{lid}/verify", headers=ADMIN)).json()
        assert (check["ok"], check["checked"], check["ledger_seq"]) == (True, 80, 80)
    async with app.state.ctx.engine.connect() as conn:  # per learner, xid order = chain order
        rows = (await conn.execute(text(
            "SELECT learner_id, array_agg(ledger_seq ORDER BY xid::text::numeric, seq) AS s "
            "FROM ledger.entries WHERE learner_id = ANY(:l) GROUP BY learner_id"),
            {"l": learners})).all()
    assert all(r.s == sorted(r.s) for r in rows)


# --- corrections and revocations (R-LG-3) ------------------------------------------------------

async def test_correction_and_revocation_show_in_the_statement_with_the_original_kept(ledger_api, inst):
    app, client = ledger_api
    iid, me = inst
    lid = await record_two(client, iid, me)
    fixed = result(iid, lid, "r1", grade={"scale": "UK-PERCENT", "value": "72"},
                   credit={"value": "20", "scheme": "CATS"})
    url = f"/v1/achievements/{iid}:r1/corrections"
    corrected = await client.post(url, json={"result": fixed, "reason": "remark"}, headers=me)
    assert (corrected.status_code, corrected.json()["ledger_seq"]) == (201, 3), corrected.text
    retried = await client.post(url, json={"result": fixed, "reason": "remark"}, headers=me)
    assert (retried.status_code, retried.json()) == (200, corrected.json())
    other = auth("institution", unique("other"))
    assert (await client.post(url, json={"result": fixed}, headers=other)).status_code == 403
    moved = await client.post(url, json={"result": {**fixed, "learner_id": "L-x"}}, headers=me)
    assert moved.json()["code"] == "correction_changes_identity"
    revoke = f"/v1/achievements/{iid}:r2/revocation"
    revoked = await client.post(revoke, json={"reason": "academic misconduct"}, headers=me)
    assert (revoked.status_code, revoked.json()["ledger_seq"]) == (201, 4)
    again = await client.post(revoke, json={"reason": "academic misconduct"}, headers=me)
    assert (again.status_code, again.json()) == (200, revoked.json())
    assert (await client.post(revoke, json={"reason": "other"}, headers=me)).status_code == 409
    assert (await client.post(f"/v1/achievements/{iid}:nope/revocation", json={"reason": "x"},
                              headers=me)).status_code == 404
    assert await count(app, learner_id=lid) == 4

    statement = (await client.get(f"/v1/learners/{lid}/statement",
                                  headers=auth("learner", lid))).json()
    lines = {a["achievement_id"]: a for a in statement["achievements"]}
    assert lines[f"{iid}:r1"]["status"] == "corrected"
    assert lines[f"{iid}:r1"]["grade"]["value"] == "72"
    assert lines[f"{iid}:r2"]["status"] == "revoked" and not lines[f"{iid}:r2"]["counted"]
    assert lines[f"{iid}:r2"]["revocation_reason"] == "academic misconduct"  # why, R-LG-3
    assert lines[f"{iid}:r1"]["revocation_reason"] is None
    assert statement["totals"] == {"uk_credits": "20", "ects": "10"}
    assert statement["ledger_seq"] == 4
    original = (await client.get(f"/v1/achievements/{iid}:r1", headers=me)).json()
    assert original["original"]["grade"]["value"] == "68"  # kept
    assert original["latest"]["grade"]["value"] == "72"
    # its history: what changed, when, by whom and why
    assert [{k: v for k, v in h.items() if k != "recorded_at"} for h in original["history"]
            ] == [{"ledger_seq": 1, "kind": "recorded", "by": iid},
                  {"ledger_seq": 3, "kind": "corrected", "by": iid, "reason": "remark",
                   "changes": [{"field": "credit.value", "from": "15", "to": "20"},
                               {"field": "grade.value", "from": "68", "to": "72"}]}]
    revoked_view = (await client.get(f"/v1/achievements/{iid}:r2",
                                     headers=auth("learner", lid))).json()
    assert [(h["kind"], h.get("reason")) for h in revoked_view["history"]] == [
        ("recorded", None), ("revoked", "academic misconduct")]
    assert revoked_view["history"][1]["recorded_at"].endswith("Z")
    assert (await client.get(f"/v1/achievements/{iid}:r1",
                             headers=auth("learner", "someone"))).status_code == 403
    verified = (await client.get(f"/v1/learners/{lid}/verify", headers=ADMIN)).json()
    assert (verified["ok"], verified["checked"]) == (True, 4)


async def test_a_conflict_says_what_became_of_the_achievement_holding_the_id(ledger_api, inst):
    """R-LG-2 with R-LG-3: a conflict names the achievement holding the result id, its
    status, and whether it was corrected to exactly what was sent (nothing to do), in the
    409 and in a batch's item; nothing is written either way."""
    app, client = ledger_api
    iid, me = inst
    lid = await record_two(client, iid, me)
    remarked = result(iid, lid, "r1", grade={"scale": "UK-PERCENT", "value": "72"})
    other = result(iid, lid, "r1", grade={"scale": "UK-PERCENT", "value": "55"})

    clash = (await client.post("/v1/results", json=remarked, headers=me)).json()
    assert (clash["achievement_id"], clash["achievement_status"], clash["matches_latest"]) == (
        f"{iid}:r1", "current", False)
    assert clash["title"].endswith("send a correction to change it")
    assert (await client.post(f"/v1/achievements/{iid}:r1/corrections", headers=me, json={
        "result": remarked, "reason": "remark"})).status_code == 201
    assert (await client.post(f"/v1/achievements/{iid}:r2/revocation", headers=me,
                              json={"reason": "misconduct"})).status_code == 201
    written = await count(app, learner_id=lid)

    clash = (await client.post("/v1/results", json=remarked, headers=me)).json()
    assert (clash["code"], clash["achievement_status"], clash["matches_latest"]) == (
        "result_id_conflict", "corrected", True)
    assert clash["title"].endswith("since corrected to this one: nothing to do")
    batch = await client.post("/v1/results/batch", headers=me, json={"results": [
        remarked, other, result(iid, lid, "r2", title="Renamed"), result(iid, lid, "r1")]})
    items = batch.json()["results"]
    assert [(i["outcome"], i.get("achievement_status"), i.get("matches_latest"))
            for i in items] == [("conflict", "corrected", True),
                                ("conflict", "corrected", False),
                                ("conflict", "revoked", False),
                                ("duplicate", "corrected", False)]
    # the original again answers as the first time, and says it is no longer the latest
    assert (items[3]["achievement_id"], items[3]["ledger_seq"]) == (f"{iid}:r1", 1)
    assert items[2]["achievement_id"] == f"{iid}:r2" and "ledger_seq" not in items[2]
    assert items[2]["errors"][0]["message"].endswith("a revoked result cannot be corrected")
    assert await count(app, learner_id=lid) == written


async def test_a_member_reads_what_it_recorded_page_by_page_in_its_latest_state(
        ledger_api, inst):
    """A registrar reconciles: every result the member recorded, by result id, each as it
    stands now (R-LG-3); only the member itself and admins; no other member's."""
    _, client = ledger_api
    iid, me = inst
    other_iid = unique("uni")
    other = auth("institution", other_iid)
    for rid in ("r1", "r2", "r3"):
        assert (await client.post("/v1/results", json=result(iid, unique("L"), rid),
                                  headers=me)).status_code == 201
    assert (await client.post("/v1/results", json=result(other_iid, unique("L"), "r0"),
                              headers=other)).status_code == 201
    first = (await client.get(f"/v1/achievements/{iid}:r1", headers=me)).json()
    fixed = {**first["original"], "grade": {"scale": "UK-PERCENT", "value": "72"}}
    assert (await client.post(f"/v1/achievements/{iid}:r1/corrections", headers=me,
                              json={"result": fixed})).status_code == 201
    assert (await client.post(f"/v1/achievements/{iid}:r2/revocation", headers=me,
                              json={"reason": "withdrawn"})).status_code == 201

    url = f"/v1/institutions/{iid}/results"
    page = await client.get(url, params={"limit": 2}, headers=me)
    assert page.status_code == 200, page.text
    body = page.json()
    assert [(r["achievement_id"], r["status"]) for r in body["results"]] == [
        (f"{iid}:r1", "corrected"), (f"{iid}:r2", "revoked")]
    assert body["results"][0]["latest"]["grade"]["value"] == "72"
    assert body["results"][0]["original"]["grade"]["value"] == "68"
    assert body["results"][0]["learner_id"] == first["learner_id"]
    assert body["next_after"] == "r2"
    rest = (await client.get(url, params={"after": "r2", "limit": 2}, headers=me)).json()
    assert ([r["result_id"] for r in (x["latest"] for x in rest["results"])],
            rest["next_after"]) == (["r3"], None)
    exact = (await client.get(url, params={"limit": 3}, headers=ADMIN)).json()
    assert (len(exact["results"]), exact["next_after"]) == (3, "r3")
    after_last = (await client.get(url, params={"after": "r3"}, headers=me)).json()
    assert (after_last["results"], after_last["next_after"]) == ([], None)

    refused = await client.get(url, headers=other)
    assert (refused.status_code, refused.json()["code"]) == (403, "wrong_tenant")
    learner = await client.get(url, headers=auth("learner", first["learner_id"]))
    assert learner.status_code == 403
    for limit in (0, 5001):
        bad = await client.get(url, params={"limit": limit}, headers=me)
        assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "query.limit")


# --- statement tenancy and learners (R-MB-2) ---------------------------------------------------

async def test_statement_tenancy_and_associate_flag(ledger_api, inst):
    _, client = ledger_api
    iid, me = inst
    other_iid = unique("uni")
    them = auth("institution", other_iid)
    lid = unique("L")
    assert (await client.put(f"/v1/learners/{lid}", json={"home_member": iid, "associate": True},
                             headers=them)).status_code == 403
    registered = await client.put(f"/v1/learners/{lid}", headers=me,
                                  json={"home_member": iid, "associate": True})
    assert (registered.status_code, registered.json()["revision"]) == (201, 1)
    assert (await client.put(f"/v1/learners/{lid}", json={"home_member": iid, "associate": True},
                             headers=me)).status_code == 200
    assert (await client.put(f"/v1/learners/{lid}", json={"home_member": other_iid},
                             headers=them)).status_code == 403
    for i in range(5):  # 75 credits at FHEQ 7 from one member: under the 180 cap
        await client.post("/v1/results", json=result(iid, lid, f"r{i}"), headers=me)
    await client.post("/v1/results", headers=them, json=result(
        other_iid, lid, "x1", level={"framework": "FHEQ", "value": 5},
        credit={"value": "75", "scheme": "CATS"}))
    mine = (await client.get(f"/v1/learners/{lid}/statement", headers=me)).json()
    assert {a["member"] for a in mine["achievements"]} == {iid}
    assert mine["totals"]["uk_credits"] == "75"
    full = (await client.get(f"/v1/learners/{lid}/statement", headers=ADMIN)).json()
    assert full["associate"] and full["totals"] == {"uk_credits": "150", "ects": "75"}
    assert [(f["member"], f["band"]) for f in full["associate_cap_flags"]] == [
        (other_iid, "undergraduate")]  # R-MB-2: 75 > 60 at an undergraduate level
    assert full["by_member"][iid]["uk_credits"] == "75"
    assert (await client.get(f"/v1/learners/{lid}/statement",
                             headers=auth("learner", "someone-else"))).status_code == 403
    assert (await client.get(f"/v1/learners/{lid}/verify", headers=me)).status_code == 403


# --- tamper evidence (R-LG-4) ------------------------------------------------------------------

async def test_the_database_refuses_updates_and_verify_names_a_tampered_link(ledger_api, inst, engine):
    _, client = ledger_api
    iid, me = inst
    lid = unique("L")
    for rid in ("r1", "r2", "r3"):
        await client.post("/v1/results", json=result(iid, lid, rid), headers=me)
    with pytest.raises(Exception, match="append-only"):
        async with engine.begin() as conn:
            await conn.execute(text("DELETE FROM ledger.entries WHERE learner_id = :l"),
                               {"l": lid})
    async with engine.begin() as conn:
        await conn.execute(text("SET LOCAL session_replication_role = replica"))
        await conn.execute(text(
            "UPDATE ledger.entries SET event = replace(event, '\"value\":\"68\"', '\"value\":\"99\"')"
            " WHERE learner_id = :l AND ledger_seq = 2"), {"l": lid})
    check = (await client.get(f"/v1/learners/{lid}/verify", headers=auth("learner", lid))).json()
    assert (check["ok"], check["first_bad_seq"], check["reason"], check["checked"]) == (
        False, 2, "hash_mismatch", 1)


# --- read your writes (DESIGN §7) -------------------------------------------------------------

async def test_min_ledger_seq_waits_then_answers_503_with_retry_after(ledger_api, inst):
    _, client = ledger_api
    iid, me = inst
    lid = unique("L")
    written = await client.post("/v1/results", json=result(iid, lid, "r1"), headers=me)
    seq = written.json()["ledger_seq"]
    mine = auth("learner", lid)
    caught_up = await client.get(f"/v1/learners/{lid}/statement",
                                 params={"min_ledger_seq": seq}, headers=mine)
    assert caught_up.status_code == 200 and caught_up.json()["ledger_seq"] == seq
    ahead = await client.get(f"/v1/learners/{lid}/statement",
                             params={"min_ledger_seq": seq + 5}, headers=mine)
    assert ahead.status_code == 503 and ahead.headers["retry-after"] == "1"
    assert ahead.json()["code"] == "not_caught_up" and ahead.json()["ledger_seq"] == seq
    verify = await client.get(f"/v1/learners/{lid}/verify",
                              params={"min_ledger_seq": seq}, headers=mine)
    assert verify.status_code == 200 and verify.json()["ok"] is True
