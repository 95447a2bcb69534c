"""The catalogue's HTTP API on real PostgreSQL: every path of DESIGN §7 for catalogue,
auth and tenancy, bad input as problem+json that writes nothing, outbox events in the
same transaction as the change."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from catalogue.adapters.tables import course_versions, equivalences, institutions, outbox
from shared.messaging.memory_bus import InProcessBus
from tests.plugins.services import ADMIN, auth, running, unique

pytestmark = pytest.mark.integration

COURSE = {
    "title": "Data Science Foundations", "credit": {"value": "15", "scheme": "CATS"},
    "level": {"framework": "FHEQ", "value": 7}, "notional_hours": 150,
    "subjects": [{"hecos": "100366", "percent": 100}], "isced_f": "0613",
    "learning_outcomes": ["Explain the data science life cycle"], "assessment": "exam",
    "participation": "online", "identity_verified": True, "quality_assurance": "QAA",
    "language": "en", "micro_credential": True, "eu_micro_credential": False,
    "effective_from": "2025-09-01",
}
EU_COURSE = {
    "title": "Applied Machine Learning", "credit": {"value": "6", "scheme": "ECTS"},
    "level": {"framework": "EQF", "value": 6}, "notional_hours": 150,
    "subjects": [{"hecos": "100366", "percent": 100}], "learning_outcomes": ["Train a model"],
    "assessment": "project", "participation": "online", "quality_assurance": "NVAO",
    "micro_credential": True, "eu_micro_credential": True, "effective_from": "2025-02-01",
}


def member(framework: str = "FHEQ", country: str = "GB-ENG", max_level: int = 8) -> dict:
    return {"name": "A Member", "country": country, "framework": framework,
            "awarding_powers": {"framework": framework, "max_level": max_level}}


@pytest.fixture
async def api(migrated_database):
    async with running("catalogue", migrated_database, InProcessBus(),
                       run_workers=False) as (app, client):
        yield app, client


@pytest.fixture
async def members(api):
    """Two fresh members: an English one and a Scottish one."""
    _, client = api
    north, scot = unique("north"), unique("scot")
    assert (await client.put(f"/v1/institutions/{north}", json=member(), headers=ADMIN)
            ).status_code == 201
    assert (await client.put(f"/v1/institutions/{scot}", headers=ADMIN,
                             json=member("SCQF", "GB-SCT", 12))).status_code == 201
    return north, scot


async def footprint(app, iid: str) -> tuple[int, ...]:
    """Everything the catalogue holds about one member, outbox included."""
    async with app.state.ctx.engine.connect() as conn:
        counts = []
        for table, column in ((institutions, institutions.c.institution_id),
                              (course_versions, course_versions.c.institution_id),
                              (equivalences, equivalences.c.institution_id),
                              (outbox, outbox.c.key)):
            counts.append((await conn.execute(select(func.count()).select_from(table)
                                              .where(column == iid))).scalar_one())
        return tuple(counts)


# --- members (R-MB-1) -------------------------------------------------------------------

async def test_registering_a_member_is_admin_only_and_idempotent(api):
    app, client = api
    iid = unique("m")
    assert (await client.put(f"/v1/institutions/{iid}", json=member(),
                             headers=auth("institution", iid))).status_code == 403
    assert (await client.put(f"/v1/institutions/{iid}", json=member())).status_code == 401
    assert await footprint(app, iid) == (0, 0, 0, 0)
    first = await client.put(f"/v1/institutions/{iid}", json=member(), headers=ADMIN)
    again = await client.put(f"/v1/institutions/{iid}", json=member(), headers=ADMIN)
    renamed = await client.put(f"/v1/institutions/{iid}", headers=ADMIN,
                               json={**member(), "name": "Renamed"})
    assert (first.status_code, again.status_code, renamed.status_code) == (201, 200, 200)
    assert [r.json()["revision"] for r in (first, again, renamed)] == [1, 1, 2]
    assert await footprint(app, iid) == (1, 0, 0, 2)  # two events: created, renamed
    got = await client.get(f"/v1/institutions/{iid}", headers=auth("learner", "L-1"))
    assert got.json()["name"] == "Renamed"


@pytest.mark.parametrize(("body", "field"), [
    ({**member(), "framework": "XQF"}, "framework"),
    ({**member(), "country": "England"}, "country"),
    ({**member(), "awarding_powers": {"framework": "FHEQ", "max_level": 9}},
     "awarding_powers.max_level"),
    ({k: v for k, v in member().items() if k != "name"}, "name"),
    ({**member(), "colour": "blue"}, "colour"),
    ({**member(), "name": "Uni\x00North"}, "body"),  # U+0000: was a 500 from PostgreSQL
])
async def test_invalid_member_is_422_naming_the_field(api, body, field):
    app, client = api
    iid = unique("m")
    response = await client.put(f"/v1/institutions/{iid}", json=body, headers=ADMIN)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "validation_failed"
    assert field in [e["field"] for e in problem["errors"]]
    assert await footprint(app, iid) == (0, 0, 0, 0)


# --- courses (R-CAT-1, R-CAT-2) ----------------------------------------------------------

async def test_publishing_a_course_makes_versions_only_on_change(api, members):
    app, client = api
    north, _ = members
    url, me = f"/v1/institutions/{north}/courses/DS701", auth("institution", north)
    first = await client.put(url, json=COURSE, headers=me)
    assert first.status_code == 201
    assert first.json()["version"] == 1 and first.json()["cah"] == ["CAH11-01-01"]
    assert (await client.put(url, json=COURSE, headers=me)).status_code == 200
    changed = {**COURSE, "title": "Data Science Foundations (2026)",
               "effective_from": "2026-09-01"}
    second = await client.put(url, json=changed, headers=me)
    assert (second.status_code, second.json()["version"]) == (201, 2)
    assert await footprint(app, north) == (1, 2, 0, 3)

    anyone = auth("learner", "L-0000001")
    in_2025 = await client.get(url, params={"at": "2025-12-01"}, headers=anyone)
    in_2026 = await client.get(url, params={"at": "2026-10-01"}, headers=anyone)
    assert (in_2025.json()["version"], in_2026.json()["version"]) == (1, 2)
    before = await client.get(url, params={"at": "2024-01-01"}, headers=anyone)
    assert (before.status_code, before.json()["code"]) == (404, "no_version_in_force")
    history = await client.get(f"{url}/versions", headers=anyone)
    assert [v["version"] for v in history.json()] == [1, 2]


async def test_a_member_publishes_only_its_own_courses(api, members):
    app, client = api
    north, scot = members
    wrong = await client.put(f"/v1/institutions/{north}/courses/DS701", json=COURSE,
                             headers=auth("institution", scot))
    assert (wrong.status_code, wrong.json()["code"]) == (403, "wrong_tenant")
    admin = await client.put(f"/v1/institutions/{north}/courses/DS701", json=COURSE,
                             headers=ADMIN)
    learner = await client.put(f"/v1/institutions/{north}/courses/DS701", json=COURSE,
                               headers=auth("learner", "L-1"))
    assert (admin.status_code, learner.status_code) == (403, 403)
    assert await footprint(app, north) == (1, 0, 0, 1)


async def test_a_course_of_an_unregistered_member_is_404(api):
    iid = unique("ghost")
    _, client = api
    response = await client.put(f"/v1/institutions/{iid}/courses/X1", json=COURSE,
                                headers=auth("institution", iid))
    assert (response.status_code, response.json()["code"]) == (404, "institution_not_found")


@pytest.mark.parametrize(("change", "status", "code", "field"), [
    ({"credit": {"value": "-5", "scheme": "CATS"}}, 422, "validation_failed", "credit.value"),
    ({"credit": {"value": "15", "scheme": "POINTS"}}, 422, "validation_failed", "credit.scheme"),
    ({"level": {"framework": "FHEQ", "value": 9}}, 422, "validation_failed", "level.value"),
    ({"level": {"framework": "SCQF", "value": 6}}, 422, "validation_failed", "level.value"),
    ({"subjects": [{"hecos": "100366", "percent": 60}]}, 422, "validation_failed", "body"),
    ({"subjects": [{"hecos": "12", "percent": 100}]}, 422, "validation_failed",
     "subjects.0.hecos"),
    ({"isced_f": "613"}, 422, "validation_failed", "isced_f"),
    ({"participation": "by post"}, 422, "validation_failed", "participation"),
    ({"effective_from": "not a date"}, 422, "validation_failed", "effective_from"),
    ({"title": None}, 422, "validation_failed", "title"),
    ({"units": [{"institution_id": "nowhere", "code": "U1"}]}, 422, "unknown_unit", None),
])
async def test_bad_course_input_is_a_4xx_and_writes_nothing(api, members, change, status,
                                                            code, field):
    app, client = api
    north, _ = members
    before = await footprint(app, north)
    response = await client.put(f"/v1/institutions/{north}/courses/BAD1",
                                json={**COURSE, **change}, headers=auth("institution", north))
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert await footprint(app, north) == before


async def test_malformed_json_and_wrong_content_type(api, members):
    app, client = api
    north, _ = members
    me = auth("institution", north)
    url = f"/v1/institutions/{north}/courses/BAD2"
    malformed = await client.put(url, content=b'{"title": ', headers={
        **me, "content-type": "application/json"})
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    as_form = await client.put(url, content=b"title=x", headers={
        **me, "content-type": "application/x-www-form-urlencoded"})
    assert (as_form.status_code, as_form.json()["code"]) == (415, "unsupported_media_type")
    assert await footprint(app, north) == (1, 0, 0, 1)


async def test_bad_tokens_are_401(api):
    _, client = api
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"},
                    {"Authorization": "Basic dXNlcjpwYXNz"}):
        response = await client.get("/v1/courses", headers=headers)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"


# --- R-CAT-5 ------------------------------------------------------------------------------

async def test_an_incomplete_eu_microcredential_is_422_listing_what_is_missing(api):
    app, client = api
    eu = unique("eu")
    await client.put(f"/v1/institutions/{eu}", json=member("EQF", "NL", 8), headers=ADMIN)
    me = auth("institution", eu)
    ok = await client.put(f"/v1/institutions/{eu}/courses/AML", json=EU_COURSE, headers=me)
    assert ok.status_code == 201, ok.text
    incomplete = {k: v for k, v in EU_COURSE.items()
                  if k not in ("quality_assurance", "learning_outcomes")}
    response = await client.put(f"/v1/institutions/{eu}/courses/AML2", json=incomplete,
                                headers=me)
    assert response.status_code == 422
    assert response.json()["code"] == "eu_microcredential_incomplete"
    assert response.json()["missing"] == ["learning_outcomes", "quality_assurance"]
    assert await footprint(app, eu) == (1, 1, 0, 2)


# --- equivalences (R-CAT-3) ---------------------------------------------------------------

async def test_equivalences_are_published_by_the_receiving_member(api, members):
    app, client = api
    north, scot = members
    await client.put(f"/v1/institutions/{north}/courses/DS701", json=COURSE,
                     headers=auth("institution", north))
    for code in ("DS11A", "DS11B"):
        await client.put(f"/v1/institutions/{scot}/courses/{code}", headers=auth(
            "institution", scot), json={**COURSE, "level": {"framework": "SCQF", "value": 11},
                                        "credit": {"value": "10", "scheme": "SCQF"}})
    body = {"source": [{"institution_id": scot, "code": "DS11A"},
                       {"institution_id": scot, "code": "DS11B"}],
            "target_code": "DS701", "effective_from": "2024-01-01", "effective_to": None}
    url = f"/v1/institutions/{north}/equivalences/eq-1"
    # the sending member cannot declare what the receiver recognises
    assert (await client.put(url, json=body, headers=auth("institution", scot))
            ).status_code == 403
    created = await client.put(url, json=body, headers=auth("institution", north))
    assert (created.status_code, created.json()["revision"]) == (201, 1)
    assert (await client.put(url, json=body, headers=auth("institution", north))
            ).status_code == 200
    listed = await client.get(f"/v1/institutions/{north}/equivalences", headers=ADMIN)
    assert [e["equivalence_id"] for e in listed.json()] == ["eq-1"]

    unknown = {**body, "source": [{"institution_id": scot, "code": "NOPE"}]}
    response = await client.put(f"/v1/institutions/{north}/equivalences/eq-2", json=unknown,
                                headers=auth("institution", north))
    assert (response.status_code, response.json()["code"]) == (422, "unknown_source_course")
    inverted = {**body, "effective_from": "2025-01-01", "effective_to": "2024-01-01"}
    response = await client.put(f"/v1/institutions/{north}/equivalences/eq-3", json=inverted,
                                headers=auth("institution", north))
    assert (response.status_code, response.json()["code"]) == (422, "window_inverted")
    assert (await footprint(app, north))[2] == 1


# --- search --------------------------------------------------------------------------------

async def test_search_filters_by_member_level_across_frameworks_subject_and_words(api, members):
    _, client = api
    north, scot = members
    await client.put(f"/v1/institutions/{north}/courses/DS701", json=COURSE,
                     headers=auth("institution", north))
    await client.put(f"/v1/institutions/{scot}/courses/ML11", headers=auth("institution", scot),
                     json={**COURSE, "title": "Machine Learning",
                           "level": {"framework": "SCQF", "value": 11},
                           "learning_outcomes": ["Apply gradient boosting"]})
    await client.put(f"/v1/institutions/{scot}/courses/HIST9", headers=auth("institution", scot),
                     json={**COURSE, "title": "Scottish History",
                           "level": {"framework": "SCQF", "value": 9},
                           "subjects": [{"hecos": "100302", "percent": 100}]})
    anyone = auth("learner", "L-1")

    async def codes(**params) -> list[str]:
        response = await client.get("/v1/courses", params=params, headers=anyone)
        assert response.status_code == 200, response.text
        return [c["code"] for c in response.json()["items"]
                if c["institution_id"] in (north, scot)]

    assert await codes(institution=scot) == ["HIST9", "ML11"]
    assert sorted(await codes(level="FHEQ:7")) == ["DS701", "ML11"]  # R-LV-2: SCQF 11
    assert await codes(institution=scot, subject="CAH11") == ["ML11"]
    assert await codes(institution=scot, subject="100302") == ["HIST9"]
    assert await codes(institution=scot, q="gradient") == ["ML11"]
    bad = await client.get("/v1/courses", params={"level": "FHEQ:12"}, headers=anyone)
    assert (bad.status_code, bad.json()["errors"][0]["field"]) == (422, "level")
    page = await client.get("/v1/courses", params={"institution": scot, "limit": 1},
                            headers=anyone)
    cursor = page.json()["next_cursor"]
    rest = await client.get("/v1/courses", params={"institution": scot, "cursor": cursor},
                            headers=anyone)
    assert [c["code"] for c in page.json()["items"] + rest.json()["items"]] == ["HIST9", "ML11"]
    for forged in ("0000", "/ML11", f"{scot}/"):  # not a next_cursor (was a 500 for "0000")
        refused = await client.get("/v1/courses", params={"cursor": forged}, headers=anyone)
        assert refused.status_code == 422, refused.text
        assert refused.json()["code"] == "invalid_cursor"
    for name in ("q", "subject", "institution", "cursor"):  # U+0000: each was a 500
        refused = await client.get("/v1/courses", params={name: "a\x00/b"}, headers=anyone)
        assert (refused.status_code, refused.json()["errors"][0]["field"]) == (
            422, f"query.{name}")
