"""Group commit of single results (recording.SingleResults) on real PostgreSQL: results
sent at once, by one member or several, share transactions, yet each is answered as if alone (R-LG-2:
created, the first answer again for a resend, 409 for another result under the same id,
422 for a bad one), and one result the database refuses fails only its own request."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest
from sqlalchemy import text

from ledger.adapters import entries as entries_repo
from ledger.service_layer import recording
from tests.integration.test_ledger_api import result
from tests.plugins.services import ADMIN, auth, unique

pytestmark = pytest.mark.integration


async def test_concurrent_single_results_share_transactions_and_answer_as_alone(ledger_api, engine):
    _, client = ledger_api
    iid = unique("uni")
    me = auth("institution", iid)
    lids = [unique("L") for _ in range(4)]
    bodies = [result(iid, lids[n % 4], f"r{n}") for n in range(60)]
    bodies += [result(iid, lids[0], "r0"),  # a resend of r0: the first answer
               result(iid, lids[1], "r1", grade={"scale": "UK-PERCENT", "value": "1"}),
               result(iid, lids[2], "bad", credit={"value": "-1", "scheme": "CATS"})]
    other = unique("uni")  # another member's results, sent at the same time
    theirs = [result(other, lids[n % 4], f"r{n}") for n in range(20)]
    answers, their_answers = await asyncio.gather(
        asyncio.gather(*(client.post("/v1/results", json=b, headers=me) for b in bodies)),
        asyncio.gather(*(client.post("/v1/results", json=b,
                                     headers=auth("institution", other)) for b in theirs)))
    assert [a.status_code for a in their_answers] == [201] * 20
    assert [a.status_code for a in answers[2:60]] == [201] * 58
    resend, rival, bad = answers[60:]
    # r0 and its resend: whichever came first is 201, the other 200 with the same answer
    assert {answers[0].status_code, resend.status_code} == {200, 201}
    assert answers[0].json() == resend.json()
    # r1 and another result under its id: whichever came first is recorded, the other 409
    assert {answers[1].status_code, rival.status_code} == {201, 409}
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "credit.value"
    async with engine.connect() as conn:
        rows = (await conn.execute(text(
            "SELECT count(*), count(DISTINCT xid), count(DISTINCT result_id)"
            " FROM ledger.entries WHERE institution_id = :i"), {"i": iid})).one()
        chains = (await conn.execute(text(
            "SELECT learner_id, array_agg(ledger_seq ORDER BY ledger_seq)"
            " FROM ledger.entries WHERE institution_id = :i GROUP BY learner_id"),
            {"i": iid})).all()
    assert rows[0] == rows[2] == 60  # each result once, none twice
    assert rows[1] < 60  # transactions were shared
    async with engine.connect() as conn:  # by both members' results
        mixed = (await conn.execute(text(
            "SELECT count(*) FROM (SELECT xid FROM ledger.entries"
            " WHERE institution_id IN (:a, :b) GROUP BY xid"
            " HAVING count(DISTINCT institution_id) = 2) AS t"), {"a": iid, "b": other})
                 ).scalar_one()
    assert mixed >= 1
    assert sorted(len(c[1]) for c in chains) == [15] * 4
    for lid in lids:  # R-LG-4: unbroken chains (with the other member's 5 each) that verify
        check = (await client.get(f"/v1/learners/{lid}/verify", headers=ADMIN)).json()
        assert (check["ok"], check["checked"]) == (True, 20)


async def test_a_result_the_database_refuses_fails_alone(monkeypatch, engine) -> None:
    real = recording._record_retrying
    refused: list[int] = []

    async def refusing(engine_, prepared, method="auto"):
        if any(p.sub.result_id == "poison" for p in prepared):
            refused.append(len(prepared))
            raise RuntimeError("the database refuses this one")
        return await real(engine_, prepared, method)

    monkeypatch.setattr(recording, "_record_retrying", refusing)
    singles = recording.SingleResults(engine)
    iid, lid = unique("uni"), unique("L")
    outcomes = await asyncio.gather(
        *(singles.record(iid, result(iid, lid, rid), today=date(2030, 1, 1))
          for rid in ("a", "poison", "b", "c")), return_exceptions=True)
    assert isinstance(outcomes[1], RuntimeError)
    assert [o.outcome for i, o in enumerate(outcomes) if i != 1] == ["created"] * 3
    assert refused[-1] == 1  # retried alone, after failing together


async def test_a_result_stuck_behind_a_learners_lock_does_not_hold_up_the_others(engine):
    """A results-day batch holds its learners' locks until it commits (~1 s). A single
    result for one of them waits for that lock; results for other learners, sent after
    it, are written beside it once its transaction has been in flight for STALL_AFTER,
    not after the batch."""
    singles = recording.SingleResults(engine)
    iid, busy, free = unique("uni"), unique("L"), unique("L")
    today = date(2030, 1, 1)
    async with engine.connect() as batch:  # the batch: holds `busy`'s lock
        held = await batch.begin()
        await entries_repo.lock_learners(batch, [busy])
        stuck = asyncio.create_task(singles.record(iid, result(iid, busy, "r-busy"), today=today))
        await asyncio.sleep(0.01)  # its transaction is in flight, waiting for the lock
        others = asyncio.gather(*(singles.record(iid, result(iid, free, f"r{n}"), today=today)
                                  for n in range(3)))
        done = await asyncio.wait_for(others, timeout=5)  # the lock is still held
        assert [o.outcome for o in done] == ["created"] * 3
        assert not stuck.done()
        await held.rollback()
    assert (await asyncio.wait_for(stuck, timeout=5)).outcome == "created"
