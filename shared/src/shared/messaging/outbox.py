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


async def append_keyed_to_outbox(conn: AsyncConnection, outbox: Table, topic: str,
                                 keyed: Sequence[tuple[str, CloudEvent]], *,
                                 once: bool = False) -> None:
    """Events each with its own key, in one statement over unnest(arrays) whatever their
    number (a bulk use case writes thousands); inside the caller's transaction. `once`:
    an event whose id the outbox already holds (an event id derived from what it
    answers, appended again) is left out, not an error (the outbox keeps its rows)."""
    if not keyed:
        return
    table = conn.dialect.identifier_preparer.format_table(outbox)
    await conn.exec_driver_sql(
        f"INSERT INTO {table} (event_id, event_type, topic, key, payload)"
        " SELECT i, t, $1, k, p FROM unnest($2::text[], $3::text[], $4::text[], $5::bytea[])"
        " AS u(i, t, k, p)" + (" ON CONFLICT (event_id) DO NOTHING" if once else ""),
        (topic, [e.id for _, e in keyed], [e.type for _, e in keyed], [k for k, _ in keyed],
         [encode_event(e) for _, e in keyed]))
