"""The ledger's consumer of award.events (entrypoints.events.awards), before it touches
the database: what it ignores and what it refuses (the database path is in
tests/integration/test_ledger_awards.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from ledger.entrypoints.events.awards import AwardConferrals
from shared.contracts.envelope import CloudEvent, new_event
from shared.contracts.events import ClaimDecidedV1, UsedCreditV1
from shared.domain.errors import RuleViolation


class NoDatabase:
    """A connection that must not be used."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the database was used: {name}")


DECISION = ClaimDecidedV1(
    claim_id="c-1", learner_id="L-1", qualification_id="pgcert-ds", status="awarded",
    decided_at=datetime(2026, 7, 1, tzinfo=UTC), conferring_member="uni-north",
    used=[UsedCreditV1(achievement_id="uni-north:r1", rule="minimum:FHEQ7")])


def apply(event: CloudEvent) -> None:
    asyncio.run(AwardConferrals().apply(NoDatabase(), event))  # type: ignore[arg-type]


@pytest.mark.parametrize("forged", [
    {"source": "/cairn/ledger"},  # not from the award service
    {"source": "/somewhere/else"},
    {"subject": "L-2"},  # keyed by another learner than it names
    {"subject": None},
])
def test_a_decision_not_from_the_award_service_is_refused(forged: dict) -> None:
    event = new_event(DECISION, subject="L-1").model_copy(update=forged)
    with pytest.raises(RuleViolation) as refused:
        apply(event)
    assert refused.value.code == "not_from_the_award_service"


def test_other_award_events_are_ignored() -> None:
    event = new_event(DECISION, subject="L-1").model_copy(
        update={"type": "cairn.award.qualification.defined.v1"})
    apply(event)  # a type the ledger does not read: nothing happens


def test_the_award_services_own_decision_reaches_the_database() -> None:
    with pytest.raises(AssertionError, match="the database was used"):
        apply(new_event(DECISION, subject="L-1"))


def test_a_decision_that_confers_nothing_writes_nothing() -> None:
    refused = DECISION.model_copy(update={"status": "not_awardable",
                                          "conferring_member": None, "used": []})
    apply(new_event(refused, subject="L-1"))  # no database touched


def test_an_awarded_decision_names_its_conferring_member() -> None:  # R-AW-8
    nameless = DECISION.model_copy(update={"conferring_member": None})
    with pytest.raises(RuleViolation) as refused:
        apply(new_event(nameless, subject="L-1"))
    assert refused.value.code == "conferring_member_missing"
