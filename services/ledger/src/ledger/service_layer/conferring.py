"""Awards on the ledger (R-AW-8): the award service decides a claim and emits
`cairn.award.claim.decided.v1`; an `awarded` decision becomes an `AwardConferred` entry
on the learner's chain (R-LG-4), which locks the credit it used (R-AW-5) and is published
on `ledger.events` like every entry. The statement then shows each achievement used as
`used_by_award`.

Decisions:
- The award id is the claim id: a claim is decided once, so one claim confers at most one
  award, and a decision delivered again (a redelivery, a replay from offset zero, the
  award service emitting it twice) finds its award already on the chain and appends
  nothing.
- The ledger checks the award against the chain as it is now, under the learner's lock
  (domain.achievements.check_award): every achievement used is the learner's, none is
  revoked, none is locked by another award unless this one supersedes it. The award
  service decided on what it knew then; a revocation or another award may have come
  in between. Such a decision is refused: nothing goes on the chain, and the ledger
  tells the award service so, `cairn.ledger.award.refused.v1` on `ledger.events`
  through its outbox (`refuse_award`), so the claim does not stay "awarded" there while
  the ledger holds no award. A decision that is not well formed (an `awarded` one
  without its conferring member) is a fault of the sender, parked in the dead-letter
  table instead.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters import entries as repo
from ledger.adapters.tables import outbox
from ledger.domain.achievements import AwardConferred, fold
from ledger.domain.entry_events import entry_from_event
from ledger.service_layer.chaining import append_entry
from shared.contracts.envelope import new_event
from shared.contracts.events import AwardRefusedV1, ClaimDecidedV1
from shared.domain.errors import RuleViolation
from shared.messaging.outbox import append_keyed_to_outbox

_REFUSALS = uuid.UUID("5d7c1a3e-2b8f-4c61-9a0e-6f4b2d9e8c17")  # namespace of refusal ids


@dataclass(frozen=True)
class Conferral:
    award_id: str
    learner_id: str
    ledger_seq: int
    appended: bool  # False: delivered again, already on the chain


class AwardRefused(RuleViolation):
    """The chain does not allow the award now (module docstring): answered by
    `refuse_award`, not parked."""

    status = 409


async def record_award(conn: AsyncConnection, decision: ClaimDecidedV1) -> Conferral | None:
    """Append the award an `awarded` decision confers to the learner's chain, in the
    caller's transaction; None for a decision that confers nothing. AwardRefused when the
    chain as it is now does not allow it (R-AW-5)."""
    if decision.status != "awarded":
        return None
    member = decision.conferring_member
    if not member:
        raise RuleViolation("conferring_member_missing",
                            "an awarded decision names its conferring member (R-AW-8)",
                            claim_id=decision.claim_id)
    learner_id = decision.learner_id
    await repo.lock_learners(conn, [learner_id])
    chain = [entry_from_event(row.event) for row in await repo.learner_events(conn, learner_id)]
    for entry in chain:
        if isinstance(entry, AwardConferred) and entry.award_id == decision.claim_id:
            return Conferral(entry.award_id, learner_id, entry.ledger_seq, False)
    states = fold(chain)

    def award(seq: int) -> AwardConferred:
        conferred = AwardConferred(
            seq, decision.claim_id, decision.qualification_id, member,
            tuple(used.achievement_id for used in decision.used), tuple(decision.supersedes))
        try:
            fold([conferred], states)  # R-AW-5 against the chain as it is now
        except RuleViolation as error:
            raise AwardRefused(error.code, error.message, **error.details) from None
        return conferred

    return Conferral(decision.claim_id, learner_id,
                     await append_entry(conn, learner_id, award), True)


async def refuse_award(conn: AsyncConnection, decision: ClaimDecidedV1,
                       refusal: AwardRefused) -> str:
    """Tell the award service the ledger did not record this decision's award
    (`cairn.ledger.award.refused.v1`, keyed by the learner, through the outbox, in the
    caller's transaction); the event id, the same for every delivery of the claim."""
    at_fault = refusal.details.get("achievement_id")
    event = new_event(AwardRefusedV1(
        claim_id=decision.claim_id, learner_id=decision.learner_id,
        qualification_id=decision.qualification_id, code=refusal.code,
        reason=refusal.message, achievement_id=at_fault if isinstance(at_fault, str) else None),
        subject=decision.learner_id,
        event_id=str(uuid.uuid5(_REFUSALS, f"{decision.learner_id}/{decision.claim_id}")))
    await append_keyed_to_outbox(conn, outbox, AwardRefusedV1.topic,
                                 [(decision.learner_id, event)], once=True)
    return event.id
