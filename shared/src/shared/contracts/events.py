"""Versioned event payloads: the only code services share about each other.
A change that breaks a reader is a new class with a new `.vN` type, never an edit."""

from __future__ import annotations

from datetime import date, datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from shared.contracts.envelope import CloudEvent
from shared.contracts.values import (
    AwardingPowers,
    CourseRef,
    CreditValue,
    LevelValue,
    SubjectShareValue,
)


class EventPayload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")  # readers tolerate added fields
    event_type: ClassVar[str]
    topic: ClassVar[str]


# --- catalogue.events (key: institution id) ---------------------------------------------

class InstitutionRegisteredV1(EventPayload):
    """R-MB-1: a member registered or its details changed (`revision` grows)."""

    event_type: ClassVar[str] = "cairn.catalogue.institution.registered.v1"
    topic: ClassVar[str] = "catalogue.events"
    institution_id: str
    revision: int
    name: str
    country: str
    framework: str
    awarding_powers: AwardingPowers


class CourseVersionPublishedV1(EventPayload):
    """R-CAT-1/2: a new version of a course; carries the whole version."""

    event_type: ClassVar[str] = "cairn.catalogue.course.published.v1"
    topic: ClassVar[str] = "catalogue.events"
    institution_id: str
    code: str
    version: int
    effective_from: date
    title: str
    credit: CreditValue
    level: LevelValue
    notional_hours: int | None = None
    subjects: list[SubjectShareValue]
    cah: list[str] = []
    isced_f: str | None = None
    learning_outcomes: list[str] = []
    assessment: str | None = None
    participation: str | None = None
    identity_verified: bool | None = None
    quality_assurance: str | None = None
    language: str | None = None
    micro_credential: bool = False
    eu_micro_credential: bool = False
    units: list[CourseRef] = []
    content_hash: str


class EquivalencePublishedV1(EventPayload):
    """R-CAT-3: published by the receiving member; `revision` grows on change."""

    event_type: ClassVar[str] = "cairn.catalogue.equivalence.published.v1"
    topic: ClassVar[str] = "catalogue.events"
    institution_id: str
    equivalence_id: str
    revision: int
    source: list[CourseRef]
    target_code: str
    effective_from: date
    effective_to: date | None = None
    withdrawn: bool = False


# --- ledger.events (key: learner id) -----------------------------------------------------
# The data of a ledger event is the chained entry exactly as stored and hashed (R-LG-4):
# `ledger_seq` orders one learner's events; `result` is the result as the member sent it.

class ResultV1(BaseModel):
    """A result as recorded (R-LG-1), values as given."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    result_id: str
    learner_id: str
    institution_id: str
    course: CourseRef | None = None
    title: str
    credit: dict
    level: dict
    subjects: list[dict] = []
    grade: dict | None = None
    assessed_on: date
    origin: str = "member"
    notional_hours: int | None = None


class _LedgerEntryV1(EventPayload):
    topic: ClassVar[str] = "ledger.events"
    kind: str
    ledger_seq: int
    learner_id: str
    recorded_at: datetime


class AchievementRecordedV1(_LedgerEntryV1):
    event_type: ClassVar[str] = "cairn.ledger.achievement.recorded.v1"
    achievement_id: str
    result: ResultV1


class AchievementCorrectedV1(_LedgerEntryV1):
    """R-LG-3: the whole corrected result, naming the original achievement."""

    event_type: ClassVar[str] = "cairn.ledger.achievement.corrected.v1"
    achievement_id: str
    institution_id: str
    reason: str = ""
    result: ResultV1


class AchievementRevokedV1(_LedgerEntryV1):
    event_type: ClassVar[str] = "cairn.ledger.achievement.revoked.v1"
    achievement_id: str
    institution_id: str
    reason: str = ""


class AwardConferredV1(_LedgerEntryV1):
    """R-AW-8: the conferral recorded on the learner's ledger; the credit used is locked."""

    event_type: ClassVar[str] = "cairn.ledger.award.conferred.v1"
    award_id: str
    qualification_id: str
    conferring_member: str
    achievement_ids: list[str]
    supersedes: list[str] = []


class LearnerRegisteredV1(EventPayload):
    """R-MB-2: a learner's registration was created or changed (`revision` grows by one on
    each change). Not a chained entry: written through the ledger's outbox table."""

    event_type: ClassVar[str] = "cairn.ledger.learner.registered.v1"
    topic: ClassVar[str] = "ledger.events"
    learner_id: str
    home_member: str
    associate: bool
    revision: int


class AwardRefusedV1(EventPayload):
    """R-AW-8, R-AW-5: an `awarded` decision the ledger did not record, the learner's chain
    having changed since the award service decided: an achievement it used was revoked,
    is locked by an award it does not supersede, or is not the learner's (`code`, the
    ledger's reason; `achievement_id`, the one at fault). Nothing was written; the award
    service answers the claim again. Not a chained entry: written through the ledger's
    outbox table. One per claim: its event id derives from the claim id, and a decision
    delivered again writes no second one."""

    event_type: ClassVar[str] = "cairn.ledger.award.refused.v1"
    topic: ClassVar[str] = "ledger.events"
    claim_id: str
    learner_id: str
    qualification_id: str
    code: str
    reason: str
    achievement_id: str | None = None


# --- award.events (key: learner id) ------------------------------------------------------

class UsedCreditV1(BaseModel):
    """R-AW-8: an achievement an award counted, the rule it satisfies (e.g.
    `minimum:FHEQ7`, `required:DS799`) and the recognition relied on, if any."""

    model_config = ConfigDict(frozen=True, extra="ignore")
    achievement_id: str
    rule: str
    recognised_as: str | None = None


class ClaimDecidedV1(EventPayload):
    """R-AW-6/R-AW-8: the award service's decision on a learner's claim (DESIGN §7's
    `GET /award/v1/claims/{cid}` body). An `awarded` decision is recorded on the
    learner's ledger as `AwardConferred`, whose award id is `claim_id`, and the credit
    it used is locked (R-AW-5); `supersedes` names the claims of the lower awards of
    the same stack this one replaces, whose credit it may reuse."""

    event_type: ClassVar[str] = "cairn.award.claim.decided.v1"
    topic: ClassVar[str] = "award.events"
    claim_id: str
    learner_id: str
    qualification_id: str
    status: Literal["awarded", "not_awardable"]
    decided_at: datetime
    conferring_member: str | None = None
    chosen_by: str | None = None  # the R-AW-6 step: lead_member, home_member, ...
    used: list[UsedCreditV1] = []
    supersedes: list[str] = []
    reasons: list[dict] = []  # per member, when not awardable


EVENT_TYPES: dict[str, type[EventPayload]] = {
    cls.event_type: cls
    for cls in (InstitutionRegisteredV1, CourseVersionPublishedV1, EquivalencePublishedV1,
                AchievementRecordedV1, AchievementCorrectedV1, AchievementRevokedV1,
                AwardConferredV1, LearnerRegisteredV1, AwardRefusedV1, ClaimDecidedV1)
}


def payload_of(event: CloudEvent) -> EventPayload | None:
    """The typed payload of an event, or None for a type this reader does not know
    (a newer version it can ignore)."""
    model = EVENT_TYPES.get(event.type)
    return model.model_validate(event.data) if model else None

