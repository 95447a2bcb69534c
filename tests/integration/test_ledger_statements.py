"""The statements read model (issue 4 item 4, migration 0005) on real PostgreSQL: a read
serves the stored rendering only while it is fresh — same chain head, registration,
home-member framework and format — and renders otherwise; the projection renders ahead
of reads, each stale learner once, and is idempotent (no inbox)."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text

from ledger.entrypoints.events.statements import StatementsProjection
from shared.contracts.envelope import CloudEvent
from shared.messaging.memory_bus import InProcessBus
from tests.integration.test_ledger_api import result
from tests.plugins.services import ADMIN, auth, eventually, running, unique

pytestmark = pytest.mark.integration


async def stored(engine, lid: str) -> tuple[int, int, str | None, str] | None:
    async with engine.connect() as conn:
        row = (await conn.execute(text(
            "SELECT ledger_seq, registration, framework, body FROM ledger.statements"
            " WHERE learner_id = :l"), {"l": lid})).first()
    return None if row is None else tuple(row)


async def mark(engine, lid: str) -> None:
    """Change the stored body only (its key untouched): a read that answers the mark
    was served from the store."""
    async with engine.begin() as conn:
        await conn.execute(text(
            "UPDATE ledger.statements SET body = '{\"mark\": true}' WHERE learner_id = :l"),
            {"l": lid})


async def read(client, lid: str) -> dict:
    response = await client.get(f"/v1/learners/{lid}/statement", headers=auth("learner", lid))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return response.json()


async def test_a_read_serves_the_stored_statement_only_while_it_is_fresh(ledger_api, engine):
    _, client = ledger_api
    iid, lid = unique("uni"), unique("L")
    me = auth("institution", iid)
    await client.post("/v1/results", json=result(iid, lid, "r1"), headers=me)
    first = await read(client, lid)  # rendered now, and stored
    assert first["totals"]["uk_credits"] == "15" and first["ledger_seq"] == 1
    assert (await stored(engine, lid))[:3] == (1, 0, None)
    await mark(engine, lid)
    assert await read(client, lid) == {"mark": True}  # fresh: served as stored
    # a new entry moves the chain head: the mark is stale, never served again
    await client.post("/v1/results", json=result(iid, lid, "r2"), headers=me)
    second = await read(client, lid)
    assert second["ledger_seq"] == 2 and second["totals"]["uk_credits"] == "30"
    await mark(engine, lid)
    # a correction and a revocation each move it too (R-LG-3)
    await client.post(f"/v1/achievements/{iid}:r1/revocation", json={"reason": "error"},
                      headers=me)
    after = await read(client, lid)
    assert after["totals"]["uk_credits"] == "15" and after["ledger_seq"] == 3
    assert {a["status"] for a in after["achievements"]} == {"current", "revoked"}


async def test_a_registration_or_a_framework_change_makes_it_stale(ledger_api, engine):
    _, client = ledger_api
    iid, lid = unique("uni"), unique("L")
    me = auth("institution", iid)
    await client.post("/v1/results", json=result(iid, lid, "r1"), headers=me)
    assert (await read(client, lid))["home_member"] is None
    await mark(engine, lid)
    await client.put(f"/v1/learners/{lid}", json={"home_member": iid, "associate": True},
                     headers=me)
    registered = await read(client, lid)  # R-MB-2: the registration is in the statement
    assert (registered["home_member"], registered["associate"]) == (iid, True)
    assert (await stored(engine, lid))[:3] == (1, 1, None)
    assert "FHEQ:7" in registered["by_home_level"]  # home framework unknown: FHEQ
    await mark(engine, lid)
    async with engine.begin() as conn:  # the home member appears in the catalogue replica
        await conn.execute(text(
            "INSERT INTO ledger.catalogue_institutions (institution_id, revision, name,"
            " country, framework, awarding_framework, awarding_max_level)"
            " VALUES (:i, 1, :i, 'GB', 'SCQF', 'SCQF', 12)"), {"i": iid})
    try:
        scottish = await read(client, lid)
        assert "SCQF:11" in scottish["by_home_level"]  # R-LV-2: FHEQ 7 is SCQF 11
        assert (await stored(engine, lid))[:3] == (1, 1, "SCQF")
    finally:  # the database is shared: other tests compare the services' replicas
        async with engine.begin() as conn:
            await conn.execute(text(
                "DELETE FROM ledger.catalogue_institutions WHERE institution_id = :i"),
                {"i": iid})


async def test_members_see_only_what_they_issued_and_nothing_is_stored_for_them(ledger_api, engine):
    _, client = ledger_api
    iid, other, lid = unique("uni"), unique("uni"), unique("L")
    await client.post("/v1/results", json=result(iid, lid, "r1"), headers=auth("institution", iid))
    await client.post("/v1/results", json=result(other, lid, "o1"),
                      headers=auth("institution", other))
    view = (await client.get(f"/v1/learners/{lid}/statement",
                             headers=auth("institution", iid))).json()
    assert [a["member"] for a in view["achievements"]] == [iid]
    assert await stored(engine, lid) is None
    full = (await client.get(f"/v1/learners/{lid}/statement", headers=ADMIN)).json()
    assert len(full["achievements"]) == 2 and (await stored(engine, lid))[0] == 2


async def test_an_unknown_learner_reads_empty_and_nothing_is_stored(ledger_api, engine):
    _, client = ledger_api
    lid = unique("L")
    empty = await read(client, lid)
    assert (empty["achievements"], empty["ledger_seq"]) == ([], 0)
    assert await stored(engine, lid) is None


def ledger_event(lid: str) -> CloudEvent:
    return CloudEvent(id=unique("e"), source="/cairn/ledger",
                      type="cairn.ledger.achievement.recorded.v1", subject=lid, data={},
                      time="2026-11-23T12:00:00Z")


async def test_the_projection_renders_each_stale_learner_once_and_again_changes_nothing(
        ledger_api, engine):
    _, client = ledger_api
    iid = unique("uni")
    me = auth("institution", iid)
    learners = [unique("L") for _ in range(3)]
    await client.post("/v1/results/batch", headers=me, json={"results": [
        result(iid, lid, f"r{n}-{k}") for n, lid in enumerate(learners) for k in range(2)]})
    projection = StatementsProjection()
    events = [ledger_event(lid) for lid in learners for _ in range(2)]  # two per learner
    async with engine.begin() as conn:
        await projection.apply_batch(conn, events)
    assert projection.rendered == 3  # each learner once, at its latest
    for lid in learners:
        assert (await stored(engine, lid))[0] == 2
    await mark(engine, learners[0])
    async with engine.begin() as conn:  # a redelivery: all fresh, nothing rendered
        await projection.apply_batch(conn, events)
    assert projection.rendered == 3
    assert await read(client, learners[0]) == {"mark": True}
    await client.post("/v1/results", json=result(iid, learners[0], "late"), headers=me)
    async with engine.begin() as conn:
        await projection.apply(conn, ledger_event(learners[0]))
    assert projection.rendered == 4 and (await stored(engine, learners[0]))[0] == 3
    async with engine.begin() as conn:  # a rebuild starts from nothing
        await projection.reset(conn)
    assert await stored(engine, learners[1]) is None
    assert (await read(client, learners[1]))["ledger_seq"] == 2  # rendered on read


async def test_statements_read_at_the_same_moment_each_get_their_own(ledger_api):
    """Reads arriving together are fetched by one query (shared.coalesce): each still
    gets its own learner's statement, and a learner without a stored one is rendered."""
    app, client = ledger_api
    iid = unique("uni")
    me = auth("institution", iid)
    lids = [unique("L") for _ in range(12)]
    for n, lid in enumerate(lids):
        for r in range(n % 3 + 1):
            await client.post("/v1/results", json=result(iid, lid, f"{lid}-r{r}"), headers=me)
    await asyncio.gather(*(read(client, lid) for lid in lids[:6]))  # these now stored
    answers = await asyncio.gather(*(read(client, lid) for lid in lids * 2))
    for lid, answer in zip(lids * 2, answers, strict=True):
        n = lids.index(lid) % 3 + 1
        assert answer["learner_id"] == lid and answer["ledger_seq"] == n
        assert answer["totals"]["uk_credits"] == str(15 * n)
    assert app.state.ctx.shared_objects["statement-reads"] is not None


async def test_the_reads_connections_go_back_to_the_pool_at_shutdown(migrated_database,
                                                                    engine):
    """The hot reads keep their connections between queries (shared.db.HeldConnections);
    the service's shutdown hands them back (ServiceContext.close_shared), so disposing
    of the engine closes them: none of the app's sessions is left on the server."""
    async def sessions() -> set[tuple[int, str]]:
        async with engine.connect() as conn:
            return {tuple(row) for row in await conn.execute(text(
                "SELECT pid, application_name FROM pg_stat_activity"
                " WHERE application_name LIKE 'cairn-ledger%'"
                " AND datname = current_database()"))}

    before = await sessions()
    async with running("ledger", migrated_database, InProcessBus(), run_workers=False) as (
            _, client):
        lid = unique("L")
        await read(client, lid)
        await read(client, lid)
        ours = await sessions() - before
        # kept for the next read, on the reads' own engine (never used for a write)
        assert "cairn-ledger-statement-reads" in {name for _, name in ours}

    async def all_gone() -> bool:
        return not ours & await sessions()

    await eventually(all_gone, timeout=10, what="the app's sessions to end")
