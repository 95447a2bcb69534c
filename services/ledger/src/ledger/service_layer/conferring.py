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
  in between. Such a decision is refused (a RuleViolation, which the consumer parks in
  its dead-letter table with the reason) and nothing is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters import entries as repo
from ledger.domain.achievements import AwardConferred, fold
from ledger.domain.entry_events import entry_from_event
from ledger.service_layer.chaining import append_entry
from shared.contracts.events import ClaimDecidedV1
from shared.domain.errors import RuleViolation


@dataclass(frozen=True)
class Conferral:
    award_id: str
    learner_id: str
    ledger_seq: int
    appended: bool  # False: delivered again, already on the chain


async def record_award(conn: AsyncConnection, decision: ClaimDecidedV1) -> Conferral | None:
    """Append the award an `awarded` decision confers to the learner's chain, in the
    caller's transaction; None for a decision that confers nothing."""
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
        fold([conferred], states)  # R-AW-5 against the chain as it is now; raises if not
        return conferred

    return Conferral(decision.claim_id, learner_id,
                     await append_entry(conn, learner_id, award), True)
