"""The statements projection: after any change to a learner's chain (every event on
`ledger.events`, keyed by learner), their statement is rendered into the read model
(service_layer.statements), ahead of the learner's next read.

It renders from the ledger itself, not from the event, so applying an event again, or
out of order, or after a later one, changes nothing: it needs no inbox
(`idempotent`). A batch of events is applied together: each learner named in it is
rendered once, and only if their stored statement is not already fresh — so catching
up on a backlog renders each learner once, at their latest."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.adapters.publication import TOPIC
from ledger.adapters.statements import clear_statements
from ledger.service_layer.statements import refresh
from shared.contracts.envelope import CloudEvent


class StatementsProjection:
    name = "statements"
    topics = (TOPIC,)
    idempotent = True

    def __init__(self) -> None:
        self.rendered = 0

    async def apply(self, conn: AsyncConnection, event: CloudEvent) -> None:
        await self.apply_batch(conn, [event])

    async def apply_batch(self, conn: AsyncConnection, events: Sequence[CloudEvent]) -> None:
        self.rendered += await refresh(conn, [e.subject for e in events if e.subject])

    async def reset(self, conn: AsyncConnection) -> None:
        await clear_statements(conn)
