"""Awards on the ledger (R-AW-8, R-AW-5) through a real Kafka broker: the ledger running in
its production shape (relay and consumers) reads the award service's decisions from
`award.events`; an `awarded` one becomes an `AwardConferred` entry on the learner's chain,
the statement shows the credit it used as `used_by_award`, the chain still verifies, and
`cairn.ledger.award.conferred.v1` reaches `ledger.events`. A decision delivered again
appends nothing; one the chain no longer allows (credit revoked, or locked by another
award it does not supersede) is parked in the dead-letter table and writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest
from sqlalchemy import text

from ledger.entrypoints.events.awards import AwardConferrals
from shared.contracts import decode_event, encode_event
from shared.contracts.envelope import new_event
from shared.contracts.events import ClaimDecidedV1, UsedCreditV1
from shared.messaging.bus import OutgoingRecord
from shared.messaging.kafka_bus import KafkaBus
from tests.integration.test_ledger_api import result
from tests.integration.test_ledger_events import ledger_events_for
from tests.plugins.services import ADMIN, auth, eventually, running, unique

pytestmark = pytest.mark.integration


def decision(lid: str, claim: str, *achievements: str, status: str = "awarded",
             supersedes: tuple[str, ...] = ()) -> ClaimDecidedV1:
    return ClaimDecidedV1(
        claim_id=claim, learner_id=lid, qualification_id="pgcert-ds", status=status,
        decided_at=datetime.now(UTC),
        conferring_member="uni-north" if status == "awarded" else None,
        chosen_by="lead_member" if status == "awarded" else None,
        used=[UsedCreditV1(achievement_id=a, rule="minimum:FHEQ7") for a in achievements],
        supersedes=list(supersedes))


async def emit(bus: KafkaBus, *decisions: ClaimDecidedV1) -> None:
    """As the award service's relay would: each decision keyed by its learner."""
    publisher = bus.publisher()
    await publisher.start()
    try:
        await publisher.publish([
            OutgoingRecord("award.events", d.learner_id.encode(),
                           encode_event(new_event(d, subject=d.learner_id))) for d in decisions])
    finally:
        await publisher.stop()


async def awards_on_chain(engine, lid: str) -> list[tuple[int, dict]]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT ledger_seq, event FROM ledger.entries WHERE learner_id = :l"
            " AND kind = 'award_conferred' ORDER BY ledger_seq"), {"l": lid})
        return [(seq, orjson.loads(event)) for seq, event in rows]


async def refusals(engine, lid: str) -> dict[str, dict]:
    """The ledger's `award.refused` answers for a learner in its outbox, by claim, in order."""
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT payload FROM ledger.outbox WHERE key = :l"
            " AND event_type = 'cairn.ledger.award.refused.v1' ORDER BY id"), {"l": lid})
        return {(data := orjson.loads(payload)["data"])["claim_id"]: data
                for payload in rows.scalars()}


async def parked(engine, claim: str) -> list[str]:
    async with engine.connect() as conn:
        rows = await conn.execute(text(
            "SELECT error FROM ledger.inbox_dead_letter WHERE consumer = 'award-conferrals'"
            " AND convert_from(payload, 'UTF8')::jsonb #>> '{data,claim_id}' = :claim"
            " ORDER BY id"), {"claim": claim})
        return list(rows.scalars())


async def test_an_awarded_decision_is_recorded_once_and_locks_its_credit(
        migrated_database, engine, kafka_bootstrap):
    bus = KafkaBus(kafka_bootstrap, client_id="ledger-awards-test")
    await bus.ensure_topics(["award.events", "ledger.events"], 6)
    async with running("ledger", migrated_database, bus) as (_, client):
        iid, lid = unique("uni"), unique("L")
        me = auth("institution", iid)
        answer = await client.post("/v1/results/batch", headers=me, json={"results": [
            result(iid, lid, rid) for rid in ("a", "b", "c", "d")]})
        assert answer.json()["counts"]["created"] == 4
        a, b, c, d = (f"{iid}:{rid}" for rid in ("a", "b", "c", "d"))
        await client.post(f"/v1/achievements/{c}/revocation", json={"reason": "error"},
                          headers=me)
        first, again = unique("claim"), unique("claim")
        uses_revoked, uses_locked = unique("claim"), unique("claim")

        await emit(bus,
                   decision(lid, first, a, b),
                   decision(lid, first, a, b),  # the same claim again, a new event id
                   decision(lid, unique("claim"), status="not_awardable"),
                   decision(lid, uses_revoked, c),  # R-AW-5: c is revoked
                   decision(lid, uses_locked, a, d),  # a is locked by `first`
                   # Upward in one stack (R-AW-5): a higher award supersedes the lower
                   # and may reuse its credit.
                   decision(lid, again, a, d, supersedes=(first,)))

        async def both_recorded() -> bool:
            return len(await awards_on_chain(engine, lid)) == 2

        await eventually(both_recorded, timeout=60, what="two awards on the chain")
        (seq1, award1), (seq2, award2) = await awards_on_chain(engine, lid)
        assert (seq1, seq2) == (6, 7)  # after 4 recorded and 1 revoked; nothing between
        assert award1["award_id"] == first and award1["achievement_ids"] == [a, b]
        assert award2["award_id"] == again and award2["supersedes"] == [first]
        assert award1["conferring_member"] == "uni-north"

        # The ones the chain did not allow were answered to the award service, with the
        # ledger's reason, and not parked (they came before `again` on the learner's
        # partition, so they have been handled).
        answered = await refusals(engine, lid)
        assert {claim: (r["code"], r["achievement_id"]) for claim, r in answered.items()} == {
            uses_revoked: ("achievement_revoked", c), uses_locked: ("already_used_by_award", a)}
        assert first in answered[uses_locked]["reason"]
        for claim in (uses_revoked, uses_locked, first):  # `first` delivered twice: no error
            assert await parked(engine, claim) == []

        statement = await client.get(f"/v1/learners/{lid}/statement",
                                     headers=auth("learner", lid))
        assert statement.status_code == 200
        lines = {x["achievement_id"]: x for x in statement.json()["achievements"]}
        assert statement.json()["ledger_seq"] == 7
        assert {k: v["used_by_award"] for k, v in lines.items()} == {
            a: again, b: first, c: None, d: again}
        assert lines[c]["status"] == "revoked"
        awards = {w["award_id"]: w for w in statement.json()["awards"]}
        assert list(awards) == [first, again]  # in chain order; nothing of the refused
        assert (awards[first]["superseded_by"], awards[again]["superseded_by"]) == (again, None)
        assert awards[again]["achievements"] == [a, d]
        assert awards[again]["conferring_member"] == "uni-north"
        # the issuing member's view: what it issued, and no award (uni-north conferred them)
        view = await client.get(f"/v1/learners/{lid}/statement", headers=me)
        assert view.status_code == 200 and view.json()["awards"] == []
        assert {x["used_by_award"] for x in view.json()["achievements"]} == {first, again, None}
        verified = await client.get(f"/v1/learners/{lid}/verify", headers=ADMIN)
        assert verified.status_code == 200 and verified.json()["ok"] is True
        # One achievement's own view, and the member's list, know the awards too (an
        # award is a later entry of the chain that names it only in its event).
        one = (await client.get(f"/v1/achievements/{a}", headers=auth("learner", lid))).json()
        assert one["used_by_award"] == again
        assert [(h["kind"], h.get("award_id"), h["by"]) for h in one["history"]] == [
            ("recorded", None, iid), ("award_conferred", first, "uni-north"),
            ("award_conferred", again, "uni-north")]
        listed = (await client.get(f"/v1/institutions/{iid}/results", headers=me)).json()
        assert {x["achievement_id"]: x["used_by_award"] for x in listed["results"]} == {
            a: again, b: first, c: None, d: again}

        records = await ledger_events_for(bus, {lid}, expected=9)  # 7 entries, 2 refusals
        published = [decode_event(r.value) for r in records]
        conferred = [e for e in published if e.type == "cairn.ledger.award.conferred.v1"]
        assert sorted({e.data["award_id"] for e in conferred}) == sorted([first, again])
        refused = {e.id: e for e in published if e.type == "cairn.ledger.award.refused.v1"}
        assert {e.data["claim_id"] for e in refused.values()} == {uses_revoked, uses_locked}
        assert {e.subject for e in refused.values()} == {lid}

        # A refused decision delivered again answers nothing new (the refusal's event id
        # derives from the claim) and still writes nothing on the chain.
        again_event = new_event(decision(lid, uses_revoked, c), subject=lid)
        async with engine.begin() as conn:
            await AwardConferrals().apply(conn, again_event)
        assert list(await refusals(engine, lid)) == [uses_revoked, uses_locked]
        assert len(await awards_on_chain(engine, lid)) == 2


async def test_a_decision_for_an_achievement_of_another_learner_writes_nothing(
        migrated_database, engine, kafka_bootstrap):
    bus = KafkaBus(kafka_bootstrap, client_id="ledger-awards-test")
    await bus.ensure_topics(["award.events", "ledger.events"], 6)
    async with running("ledger", migrated_database, bus) as (_, client):
        iid, mine, other = unique("uni"), unique("L"), unique("L")
        me = auth("institution", iid)
        await client.post("/v1/results", json=result(iid, mine, "m"), headers=me)
        await client.post("/v1/results", json=result(iid, other, "o"), headers=me)
        stolen, fine = unique("claim"), unique("claim")
        await emit(bus, decision(mine, stolen, f"{iid}:o"), decision(mine, fine, f"{iid}:m"))

        async def recorded() -> bool:
            return len(await awards_on_chain(engine, mine)) == 1

        await eventually(recorded, timeout=60, what="the good award on the chain")
        # the bad one came first on the learner's partition: it has been handled, refused
        assert (await refusals(engine, mine))[stolen]["code"] == "achievement_not_found"
        assert await parked(engine, stolen) == []
        assert await awards_on_chain(engine, other) == []
