"""SQL of the statements read model (migration 0005) and the bulk reads that render it.

A stored statement is served only while it is *fresh*: rendered from the learner's
current chain head (`ledger_seq`), current registration revision (0: not registered),
current home-member framework, in the current STATEMENT_FORMAT. The check is part of
the read, so a statement is never served stale, however far behind the projection is.

The hot read goes to the driver connection (asyncpg: a prepared statement, a tuple
back): through SQLAlchemy's statement layer the same query costs the API ~3x the CPU."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.db import asyncpg_connection

_FROM_REGISTRATION = """
    LEFT JOIN ledger.learners AS l ON l.learner_id = {lid}
    LEFT JOIN ledger.catalogue_institutions AS m ON m.institution_id = l.home_member"""
_FRESH = f"""
    SELECT s.body, s.ledger_seq FROM ledger.statements AS s {_FROM_REGISTRATION.format(
        lid="s.learner_id")}
    WHERE s.learner_id = $1 AND s.format = $2
      AND s.ledger_seq = coalesce((SELECT max(e.ledger_seq) FROM ledger.entries AS e
                                   WHERE e.learner_id = $1), 0)
      AND s.registration = coalesce(l.revision, 0)
      AND s.framework IS NOT DISTINCT FROM m.framework"""
_STALE = f"""
    SELECT k.lid FROM unnest($1::text[]) AS k(lid) {_FROM_REGISTRATION.format(lid="k.lid")}
    LEFT JOIN ledger.statements AS s ON s.learner_id = k.lid
    WHERE s.learner_id IS NULL OR s.format <> $2
       OR (s.ledger_seq, s.registration) IS DISTINCT FROM (
            coalesce((SELECT max(e.ledger_seq) FROM ledger.entries AS e
                      WHERE e.learner_id = k.lid), 0), coalesce(l.revision, 0))
       OR s.framework IS DISTINCT FROM m.framework"""


async def fresh_statement(db: Any, learner_id: str, fmt: int) -> tuple[str, int] | None:
    """(body, ledger_seq) of the learner's stored statement if it is fresh, else None.
    `db`: an asyncpg connection (shared.db.pooled_driver_connection)."""
    row = await db.fetchrow(_FRESH, learner_id, fmt)
    return None if row is None else (row[0], row[1])


async def stale_learners(conn: AsyncConnection, learner_ids: Sequence[str], fmt: int
                         ) -> list[str]:
    """Those of `learner_ids` whose stored statement is missing or not fresh."""
    rows = await (await asyncpg_connection(conn)).fetch(_STALE, list(learner_ids), fmt)
    return [r[0] for r in rows]


@dataclass(frozen=True, slots=True)
class Sources:
    """What one learner's statement is rendered from, read together."""

    learner_id: str
    events: list[tuple[int, str]]  # (ledger_seq, stored event JSON), in chain order
    home_member: str | None
    associate: bool
    registration: int  # the learners row's revision; 0: not registered
    framework: str | None  # the home member's, from the catalogue replica


_SOURCES = """
    SELECT k.lid, l.home_member, coalesce(l.associate, false), coalesce(l.revision, 0),
           m.framework, coalesce(c.seqs, '{}'), coalesce(c.events, '{}')
    FROM unnest($1::text[]) AS k(lid)""" + _FROM_REGISTRATION.format(lid="k.lid") + """
    CROSS JOIN LATERAL (
      SELECT array_agg(e.ledger_seq ORDER BY e.ledger_seq) AS seqs,
             array_agg(e.event ORDER BY e.ledger_seq) AS events
      FROM ledger.entries AS e WHERE e.learner_id = k.lid) AS c"""


async def statement_sources(conn: AsyncConnection, learner_ids: Sequence[str]
                            ) -> list[Sources]:
    """Each learner's events and registration, in one round trip. Within one statement,
    so one snapshot: the events and the registration are of the same moment."""
    rows = await (await asyncpg_connection(conn)).fetch(_SOURCES, list(learner_ids))
    return [Sources(lid, list(zip(seqs, events, strict=True)), home, associate, revision,
                    framework)
            for lid, home, associate, revision, framework, seqs, events in rows]


@dataclass(frozen=True, slots=True)
class Rendered:
    learner_id: str
    ledger_seq: int
    registration: int
    framework: str | None
    format: int
    body: str


_SAVE = """
    INSERT INTO ledger.statements AS s (learner_id, ledger_seq, registration, framework,
                                        format, body)
    SELECT * FROM unnest($1::text[], $2::int[], $3::int[], $4::text[], $5::int[], $6::text[])
    ON CONFLICT (learner_id) DO UPDATE SET
      ledger_seq = excluded.ledger_seq, registration = excluded.registration,
      framework = excluded.framework, format = excluded.format, body = excluded.body,
      rendered_at = now()
    WHERE (s.ledger_seq, s.registration) <= (excluded.ledger_seq, excluded.registration)"""
_columns = attrgetter("learner_id", "ledger_seq", "registration", "framework", "format", "body")


async def save_statements(conn: AsyncConnection, rendered: Sequence[Rendered]) -> None:
    """Store these renderings; one rendered from older sources than the stored one does
    not replace it (two renderers racing: the later sources win)."""
    if rendered:  # through SQLAlchemy's cursor: inside the caller's transaction
        columns = zip(*(_columns(r) for r in rendered), strict=True)
        await conn.exec_driver_sql(_SAVE, tuple(map(list, columns)))


async def clear_statements(conn: AsyncConnection) -> None:
    """Forget every rendering (a rebuild); reads render again meanwhile."""
    await conn.exec_driver_sql("DELETE FROM ledger.statements")
