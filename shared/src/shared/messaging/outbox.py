"""Transactional outbox: the state change and its event commit in one transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from shared.contracts.envelope import CloudEvent, encode_event


async def append_to_outbox(conn: AsyncConnection, outbox: Table, topic: str, key: str,
                           events: Sequence[CloudEvent]) -> None:
    """Write events to the outbox inside the caller's transaction (never commits)."""
    if not events:
        return
    await conn.execute(insert(outbox), [
        {"event_id": e.id, "event_type": e.type, "topic": topic, "key": key,
         "payload": encode_event(e)}
        for e in events
    ])
