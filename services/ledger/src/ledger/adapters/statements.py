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

# Every query here takes many learners at once (an unnest of their ids) and looks each
# one up by its primary keys: LIMIT 1 laterals, never planned as a hash join over a
# whole table (which for a chunk of 500 learners the planner preferred, at a cost
# growing with the table). The home member's framework too: as a plain join to the
# (small) members table it was planned as a hash join built again for every learner,
# ~8% of PostgreSQL's CPU per statement read (perf, 100,000 learners).
_FROM_REGISTRATION = """
    LEFT JOIN LATERAL (SELECT home_member, associate, revision FROM ledger.learners
                       WHERE learner_id = {lid} LIMIT 1) AS l ON true
    LEFT JOIN LATERAL (SELECT framework FROM ledger.catalogue_institutions
                       WHERE institution_id = l.home_member LIMIT 1) AS m ON true"""
# The reads of one moment (shared.coalesce), one query.
_FRESH = """
    SELECT k.lid, s.body, s.ledger_seq FROM unnest($1::text[]) AS k(lid)
    CROSS JOIN LATERAL (SELECT body, ledger_seq, registration, framework
                        FROM ledger.statements WHERE learner_id = k.lid AND format = $2
                        LIMIT 1) AS s""" + _FROM_REGISTRATION.format(lid="k.lid") + """
    WHERE s.ledger_seq = coalesce((SELECT max(e.ledger_seq) FROM ledger.entries AS e
                                   WHERE e.learner_id = k.lid), 0)
      AND s.registration = coalesce(l.revision, 0)
      AND s.framework IS NOT DISTINCT FROM m.framework"""
_STALE = f"""
    SELECT k.lid FROM unnest($1::text[]) AS k(lid) {_FROM_REGISTRATION.format(lid="k.lid")}
    LEFT JOIN LATERAL (SELECT learner_id, format, ledger_seq, registration, framework
                       FROM ledger.statements WHERE learner_id = k.lid LIMIT 1) AS s ON true
    WHERE s.learner_id IS NULL OR s.format <> $2
       OR (s.ledger_seq, s.registration) IS DISTINCT FROM (
            coalesce((SELECT max(e.ledger_seq) FROM ledger.entries AS e
                      WHERE e.learner_id = k.lid), 0), coalesce(l.revision, 0))
       OR s.framework IS DISTINCT FROM m.framework"""


async def fresh_statements(db: Any, learner_ids: Sequence[str], fmt: int
                           ) -> dict[str, tuple[str, int]]:
    """(body, ledger_seq) of each of these learners' stored statement that is fresh;
    the others are absent. `db`: an asyncpg connection (shared.db.HeldConnections)."""
    rows = await db.fetch(_FRESH, list(learner_ids), fmt)
    return {lid: (body, seq) for lid, body, seq in rows}


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
