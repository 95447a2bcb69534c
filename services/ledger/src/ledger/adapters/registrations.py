"""SQL for learners' registrations (R-MB-2): read and write many in one statement each.
Functions take the caller's connection, so the service layer decides the transaction;
the caller holds the learners' locks (entries.lock_learners)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncConnection

from ledger.domain.registration import Registration, Stored

_CURRENT = """
    SELECT learner_id, home_member, associate, revision FROM ledger.learners
    WHERE learner_id = ANY($1::text[])"""
# New and changed registrations together; each learner at most once per statement.
_SAVE = """
    INSERT INTO ledger.learners (learner_id, home_member, associate, revision, updated_at)
    SELECT l, h, a, r, now()
    FROM unnest($1::text[], $2::text[], $3::bool[], $4::int[]) AS t(l, h, a, r)
    ON CONFLICT (learner_id) DO UPDATE SET home_member = EXCLUDED.home_member,
      associate = EXCLUDED.associate, revision = EXCLUDED.revision,
      updated_at = EXCLUDED.updated_at"""


async def current_registrations(conn: AsyncConnection, learner_ids: Sequence[str]
                                 ) -> dict[str, Stored]:
    """The stored registration of each of these learners; unregistered ones are absent."""
    rows = await conn.exec_driver_sql(_CURRENT, (list(learner_ids),))
    return {lid: Stored(home, associate, revision) for lid, home, associate, revision in rows}


async def save_registrations(conn: AsyncConnection,
                             saved: Sequence[tuple[Registration, int]]) -> None:
    """Each registration with its new revision (1: created), one statement for all."""
    if not saved:
        return
    await conn.exec_driver_sql(_SAVE, (
        [r.learner_id for r, _ in saved], [r.home_member for r, _ in saved],
        [r.associate for r, _ in saved], [revision for _, revision in saved]))
