"""The ledger's event types in shared.contracts match what the ledger stores and publishes."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import orjson
import pytest
from pydantic import ValidationError

from ledger.domain.achievements import Recorded, Revoked
from ledger.domain.entry_events import EVENT_TYPES as LEDGER_TYPES
from ledger.domain.entry_events import entry_event
from ledger.domain.results import CourseRef, Grade, ResultSubmission
from shared.contracts import decode_event, encode_event, new_event, payload_of
from shared.contracts.events import (
    EVENT_TYPES,
    AchievementRecordedV1,
    AchievementRevokedV1,
    ClaimDecidedV1,
    LearnerRegisteredV1,
    UsedCreditV1,
)
from shared.domain.credit import Credit, CreditScheme
from shared.domain.levels import Framework, Level
from shared.domain.subjects import SubjectShare


def test_every_ledger_event_type_has_a_versioned_contract() -> None:
    assert set(LEDGER_TYPES.values()) <= set(EVENT_TYPES)


def test_a_stored_recorded_entry_reads_as_its_contract() -> None:
    submission = ResultSubmission(
        result_id="2026-000123", learner_id="L-1", institution_id="uni-north",
        course=CourseRef("uni-north", "DS701"), title="Data Science Foundations",
        credit=Credit(Decimal("15"), CreditScheme.CATS), level=Level(Framework.FHEQ, 7),
        subjects=(SubjectShare("100366", Decimal(100)),), grade=Grade("UK-PERCENT", "68"),
        assessed_on=date(2026, 6, 20))
    at = datetime(2026, 6, 21, tzinfo=UTC)
    recorded = AchievementRecordedV1.model_validate(entry_event(
        Recorded(1, "uni-north:2026-000123", submission), learner_id="L-1", recorded_at=at))
    assert recorded.result.course.code == "DS701" and recorded.ledger_seq == 1
    revoked = AchievementRevokedV1.model_validate(entry_event(
        Revoked(2, "uni-north:2026-000123", "uni-north", "awarded in error"),
        learner_id="L-1", recorded_at=at))
    assert revoked.reason == "awarded in error"


def test_the_learner_registered_event_is_a_ledger_contract() -> None:
    event = new_event(LearnerRegisteredV1(learner_id="L-1", home_member="uni-north",
                                          associate=True, revision=2), subject="L-1")
    assert EVENT_TYPES[event.type] is LearnerRegisteredV1
    assert (event.type, LearnerRegisteredV1.topic) == ("cairn.ledger.learner.registered.v1",
                                                       "ledger.events")
    again = payload_of(decode_event(encode_event(event)))
    assert again == LearnerRegisteredV1(learner_id="L-1", home_member="uni-north",
                                        associate=True, revision=2)


def test_the_claim_decided_event_carries_what_the_ledger_records_of_an_award() -> None:
    """R-AW-8: the award service's decision, as DESIGN §7's claim body, on award.events."""
    decided = ClaimDecidedV1(
        claim_id="c-1", learner_id="L-1", qualification_id="pgcert-ds", status="awarded",
        decided_at=datetime(2026, 7, 1, tzinfo=UTC), conferring_member="uni-north",
        chosen_by="lead_member", supersedes=["c-0"],
        used=[UsedCreditV1(achievement_id="uni-north:r1", rule="minimum:FHEQ7")])
    event = new_event(decided, subject="L-1")
    assert (event.type, ClaimDecidedV1.topic) == ("cairn.award.claim.decided.v1", "award.events")
    raw = orjson.loads(encode_event(event))
    raw["data"]["added_in_a_later_minor"] = 1  # readers tolerate added fields
    again = payload_of(decode_event(orjson.dumps(raw)))
    assert again == decided and again.used[0].recognised_as is None
    with pytest.raises(ValidationError):  # a status the contract does not know
        ClaimDecidedV1.model_validate({**decided.model_dump(), "status": "maybe"})
