"""Hypothesis stateful test of the ledger on real PostgreSQL (issue 4): random sequences
of record / duplicate / conflicting duplicate / correct / revoke / retried batch / award
decision / award decision delivered again against a simple model; after every step the
learners' statements match the model."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from sqlalchemy import text

from ledger.bootstrap import definition
from ledger.entrypoints.events.awards import AwardConferrals
from shared.contracts.envelope import new_event
from shared.contracts.events import ClaimDecidedV1, UsedCreditV1
from shared.messaging.memory_bus import InProcessBus
from shared.migrations import upgrade_to_head_async
from tests.integration.test_ledger_api import result
from tests.plugins.services import auth, running, unique

pytestmark = pytest.mark.integration
MEMBERS = ("north", "scot")
CREDITS = ("10", "15", "20")


@dataclass
class Achievement:
    learner: str
    member: str
    result_id: str
    body: dict  # what was recorded
    latest: dict  # after corrections
    status: str = "current"
    used_by: str | None = None  # the award (claim id) whose credit it is (R-AW-5)


@dataclass
class Model:
    achievements: dict[str, Achievement] = field(default_factory=dict)  # by achievement id


class LedgerMachine(RuleBasedStateMachine):
    database_url: str = ""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.model = Model()
        self.tag = unique("h")
        self.members = {m: f"{m}-{self.tag}" for m in MEMBERS}
        self.learners = [f"L-{self.tag}-{i}" for i in range(3)]
        self.counter = 0
        self.awards: list[ClaimDecidedV1] = []  # the decisions recorded
        self.refused: list[ClaimDecidedV1] = []  # the decisions the ledger refused

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    @initialize()
    def start(self) -> None:
        self.app, self.client = self.run(self.stack.enter_async_context(
            running("ledger", self.database_url, InProcessBus(), run_workers=False)))

    def teardown(self) -> None:
        self.run(self.stack.aclose())
        self.loop.close()

    def body(self, member: str, learner: str, rid: str, credit: str, grade: int) -> dict:
        return result(self.members[member], learner, rid, credit={"value": credit,
                                                                  "scheme": "CATS"},
                      grade={"scale": "UK-PERCENT", "value": str(grade)})

    def post(self, member: str, path: str, json: dict):
        return self.run(self.client.post(path, json=json,
                                         headers=auth("institution", self.members[member])))

    def expect_record(self, body: dict) -> tuple[str, str | None]:
        """(expected outcome, achievement id) per the model (R-LG-2)."""
        aid = f"{body['institution_id']}:{body['result_id']}"
        known = self.model.achievements.get(aid)
        if known is None:
            return "created", aid
        return ("duplicate" if known.body == body else "conflict"), aid

    def remember(self, body: dict, member: str) -> None:
        aid = f"{body['institution_id']}:{body['result_id']}"
        self.model.achievements[aid] = Achievement(body["learner_id"], member,
                                                   body["result_id"], body, body)

    # --- rules ---------------------------------------------------------------------------

    @rule(member=st.sampled_from(MEMBERS), learner=st.integers(0, 2),
          credit=st.sampled_from(CREDITS), grade=st.integers(40, 90))
    def record(self, member, learner, credit, grade) -> None:
        self.counter += 1
        body = self.body(member, self.learners[learner], f"r{self.counter}", credit, grade)
        response = self.post(member, "/v1/results", body)
        assert response.status_code == 201, response.text
        self.remember(body, member)

    @precondition(lambda self: self.model.achievements)
    @rule(data=st.data())
    def duplicate(self, data) -> None:
        a = data.draw(st.sampled_from(sorted(self.model.achievements.values(),
                                             key=lambda a: a.result_id)))
        response = self.post(a.member, "/v1/results", a.body)
        assert response.status_code == 200, response.text

    @precondition(lambda self: self.model.achievements)
    @rule(data=st.data(), grade=st.integers(91, 100))
    def conflicting_duplicate(self, data, grade) -> None:
        a = data.draw(st.sampled_from(sorted(self.model.achievements.values(),
                                             key=lambda a: a.result_id)))
        changed = {**a.body, "grade": {"scale": "UK-PERCENT", "value": str(grade)}}
        response = self.post(a.member, "/v1/results", changed)
        assert response.status_code == 409 and response.json()["code"] == "result_id_conflict"

    @precondition(lambda self: any(a.status != "revoked"
                                   for a in self.model.achievements.values()))
    @rule(data=st.data(), grade=st.integers(40, 90))
    def correct(self, data, grade) -> None:
        live = sorted((aid for aid, a in self.model.achievements.items()
                       if a.status != "revoked"))
        aid = data.draw(st.sampled_from(live))
        a = self.model.achievements[aid]
        corrected = {**a.latest, "grade": {"scale": "UK-PERCENT", "value": str(grade)}}
        response = self.post(a.member, f"/v1/achievements/{aid}/corrections",
                             {"result": corrected, "reason": "remarked"})
        assert response.status_code in (200, 201), response.text
        if corrected != a.latest:
            a.latest, a.status = corrected, "corrected"

    @precondition(lambda self: any(a.status != "revoked"
                                   for a in self.model.achievements.values()))
    @rule(data=st.data())
    def revoke(self, data) -> None:
        live = sorted((aid for aid, a in self.model.achievements.items()
                       if a.status != "revoked"))
        aid = data.draw(st.sampled_from(live))
        a = self.model.achievements[aid]
        response = self.post(a.member, f"/v1/achievements/{aid}/revocation",
                             {"reason": "withdrawn"})
        assert response.status_code == 201, response.text
        a.status = "revoked"

    @rule(member=st.sampled_from(MEMBERS), new=st.integers(0, 4), old=st.integers(0, 3),
          conflicting=st.booleans(), credit=st.sampled_from(CREDITS), checked=st.booleans())
    def retried_batch(self, member, new, old, conflicting, credit, checked) -> None:
        """A batch of new results mixed with ones already sent, sent twice; `checked`: a
        dry run first, which answers as the push will and writes nothing."""
        mine = sorted((a for a in self.model.achievements.values() if a.member == member),
                      key=lambda a: a.result_id)[:old]
        items = [a.body for a in mine]
        if conflicting and mine:
            items.append({**mine[0].body, "title": "Something else"})
        for i in range(new):
            self.counter += 1
            items.append(self.body(member, self.learners[i % 3], f"r{self.counter}", credit,
                                   50 + i))
        if not items:
            return
        expected = []
        seen: dict[str, dict] = {}
        for body in items:
            outcome, aid = self.expect_record(body)
            if outcome == "created" and aid in seen:
                outcome = "duplicate" if seen[aid] == body else "conflict"
            expected.append(outcome)
            seen.setdefault(aid, body)
        if checked:
            response = self.post(member, "/v1/results/batch?dry_run=true", {"results": items})
            assert response.status_code == 200 and response.json()["dry_run"], response.text
            assert [r["outcome"] for r in response.json()["results"]] == [
                "would_create" if o == "created" else o for o in expected]
        for attempt in range(2):
            response = self.post(member, "/v1/results/batch", {"results": items})
            assert response.status_code == 200, response.text
            got = [r["outcome"] for r in response.json()["results"]]
            if attempt == 0:
                assert got == expected
                for a, item in zip(mine, response.json()["results"], strict=False):
                    if a.status == "current":  # R-LG-2: as the first time, nothing more
                        assert "achievement_status" not in item, item
                    else:  # and what became of it since (R-LG-3)
                        assert (item["achievement_status"], item["matches_latest"]) == (
                            a.status, a.status == "corrected" and a.latest == a.body), item
                for body, outcome in zip(items, got, strict=True):
                    if outcome == "created":
                        self.remember(body, member)
            else:  # the retry changes nothing: what was created is now a duplicate
                assert got == ["duplicate" if o == "created" else o for o in expected]

    async def decide(self, decision: ClaimDecidedV1) -> None:
        """As the ledger's consumer of award.events applies a decision: in a transaction."""
        async with self.app.state.ctx.engine.begin() as conn:
            await AwardConferrals().apply(conn, new_event(decision,
                                                          subject=decision.learner_id))

    @rule(data=st.data(), learner=st.integers(0, 2), supersede=st.booleans())
    def award(self, data, learner, supersede) -> None:
        """R-AW-8: an awarded decision; R-AW-5: it may use no revoked credit, and credit
        locked by another award only if it supersedes that award."""
        lid = self.learners[learner]
        theirs = sorted(aid for aid, a in self.model.achievements.items() if a.learner == lid)
        if not theirs:
            return
        used = data.draw(st.lists(st.sampled_from(theirs), min_size=1, max_size=3,
                                  unique=True))
        held = sorted({a.used_by for a in self.model.achievements.values()
                       if a.learner == lid and a.used_by})
        supersedes = held if supersede else []
        self.counter += 1
        decision = ClaimDecidedV1(
            claim_id=f"c{self.counter}-{self.tag}", learner_id=lid, qualification_id="q",
            status="awarded", decided_at=datetime.now(UTC), conferring_member="north",
            used=[UsedCreditV1(achievement_id=aid, rule="total") for aid in used],
            supersedes=supersedes)
        allowed = all(self.model.achievements[aid].status != "revoked"
                      and self.model.achievements[aid].used_by in (None, *supersedes)
                      for aid in used)
        self.run(self.decide(decision))
        refused = decision.claim_id in self.run(self.refusals(lid))  # answered, not parked
        assert refused is not allowed, decision
        if refused:
            self.refused.append(decision)
            return
        self.awards.append(decision)
        for aid in used:
            self.model.achievements[aid].used_by = decision.claim_id

    async def refusals(self, lid: str) -> list[str]:
        """The claims the ledger answered `cairn.ledger.award.refused.v1` for (its outbox)."""
        async with self.app.state.ctx.engine.connect() as conn:
            rows = await conn.execute(text(
                "SELECT convert_from(payload, 'UTF8')::jsonb #>> '{data,claim_id}'"
                " FROM ledger.outbox WHERE key = :l"
                " AND event_type = 'cairn.ledger.award.refused.v1' ORDER BY id"), {"l": lid})
            return list(rows.scalars())

    @precondition(lambda self: self.awards or self.refused)
    @rule(data=st.data())
    def award_again(self, data) -> None:
        """A decision delivered again changes nothing, whatever happened since: a recorded
        one appends nothing, a refused one is not answered twice."""
        decision = data.draw(st.sampled_from(self.awards + self.refused))
        before = self.run(self.refusals(decision.learner_id))
        self.run(self.decide(decision))
        assert self.run(self.refusals(decision.learner_id)) == before

    # --- the invariant ---------------------------------------------------------------------

    @invariant()
    def statements_match_the_model(self) -> None:
        if not hasattr(self, "client"):
            return
        for learner in self.learners:
            response = self.run(self.client.get(f"/v1/learners/{learner}/statement",
                                                headers=auth("learner", learner)))
            assert response.status_code == 200, response.text
            lines = {line["achievement_id"]: line for line in response.json()["achievements"]}
            mine = {aid: a for aid, a in self.model.achievements.items()
                    if a.learner == learner}
            assert set(lines) == set(mine)
            total = Decimal(0)
            for aid, a in mine.items():
                line = lines[aid]
                assert line["status"] == a.status
                assert line["grade"] == a.latest["grade"]
                assert line["used_by_award"] == a.used_by
                if a.status != "revoked":
                    total += Decimal(a.latest["credit"]["value"])
            assert Decimal(response.json()["totals"]["uk_credits"]) == total


TestLedgerAgainstModel = LedgerMachine.TestCase
TestLedgerAgainstModel.settings = settings(max_examples=25, stateful_step_count=20,
                                           deadline=None,
                                           suppress_health_check=list(HealthCheck))


@pytest.fixture(autouse=True)
def _ledger_database(database_url):
    loop = asyncio.new_event_loop()
    loop.run_until_complete(upgrade_to_head_async(definition().alembic_ini, database_url))
    loop.close()
    LedgerMachine.database_url = database_url
