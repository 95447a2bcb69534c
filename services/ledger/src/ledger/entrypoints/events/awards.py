"""Conferrals: the award service's decisions (`award.events`, keyed by learner), each
`awarded` one recorded on the learner's ledger as `AwardConferred` (R-AW-8,
service_layer.conferring). One the chain no longer allows is answered on `ledger.events`
(`cairn.ledger.award.refused.v1`) and writes nothing else.

Applying a decision again appends nothing (its award is found on the chain), so the
step needs no inbox (`idempotent`). A rebuild forgets nothing: what it wrote is the
ledger itself, which is append-only (R-LG-3); replaying the topic finds every award
already recorded.

Only the award service decides awards: a decision whose envelope does not come from it
(`source` /cairn/award), or whose subject (the partition key) is not the learner it
names, is refused and parked. (Who may write to `award.events` at all is the broker's
ACLs, deploy/.)"""

from __future__ import annotations

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.service_layer.conferring import AwardRefused, record_award, refuse_award
from shared.contracts.envelope import CloudEvent, event_source
from shared.contracts.events import ClaimDecidedV1, payload_of
from shared.domain.errors import RuleViolation

log = structlog.get_logger(__name__)
AWARD_SOURCE = event_source("award")


class AwardConferrals:
    name = "award-conferrals"
    topics = (ClaimDecidedV1.topic,)
    idempotent = True

    async def apply(self, conn: AsyncConnection, event: CloudEvent) -> None:
        decision = payload_of(event)
        if not isinstance(decision, ClaimDecidedV1):
            return  # another award event: not the ledger's concern
        if event.source != AWARD_SOURCE or event.subject != decision.learner_id:
            raise RuleViolation("not_from_the_award_service",
                                f"a decision comes from {AWARD_SOURCE}, keyed by its learner",
                                source=event.source, subject=event.subject)
        try:
            conferral = await record_award(conn, decision)
        except AwardRefused as refusal:  # the chain changed since: the award service is told
            event_id = await refuse_award(conn, decision, refusal)
            log.warning("ledger.award_refused", learner_id=decision.learner_id,
                        claim_id=decision.claim_id, code=refusal.code, event_id=event_id)
            return
        if conferral is not None:
            log.info("ledger.award_recorded" if conferral.appended else "ledger.award_known",
                     learner_id=conferral.learner_id, award_id=conferral.award_id,
                     ledger_seq=conferral.ledger_seq)

    async def reset(self, conn: AsyncConnection) -> None:
        """Nothing to forget: the ledger is append-only (R-LG-3)."""
