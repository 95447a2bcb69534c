"""The consolidated statement (issue 4 item 4), served from its read model.

A learner's or an administrator's read is the hot one (thousands a second): the stored
rendering if it is fresh (adapters.statements: the check is part of the read), else the
statement is rendered from the ledger now and stored for the next read. The statements
projection (entrypoints.events.statements) renders ahead of the reads, after every
change to a chain, so a read seldom renders. A member's view (what it issued, totals
over that only) is rendered on every read: it is one member's registry looking, not
the learner.

An unknown learner has an empty statement: a 404 would tell a member whether others
hold records of them. Empty statements are not stored."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters import statements as repo
from ledger.adapters.statements import Rendered, Sources
from ledger.domain.achievements import AwardConferred, fold
from ledger.domain.entry_events import entry_from_event
from ledger.domain.statement import (
    STATEMENT_FORMAT,
    LearnerRegistration,
    Statement,
    award_lines,
    build_statement,
    issued_by,
    statement_json,
)
from shared.coalesce import Coalescer
from shared.db import HeldConnections, create_engine
from shared.domain.levels import Framework
from shared.settings import ServiceSettings


def build(sources: Sources, *, only_issued_by: str | None = None) -> Statement:
    events = [orjson.loads(event) for _, event in sources.events]
    entries = [entry_from_event(event) for event in events]
    states = fold(entries).values()
    awards = award_lines((entry, datetime.fromisoformat(event["recorded_at"]))
                         for entry, event in zip(entries, events, strict=True)
                         if isinstance(entry, AwardConferred))
    if only_issued_by is not None:  # what it issued, and the awards it conferred
        states = issued_by(states, only_issued_by)
        awards = tuple(a for a in awards if a.conferring_member == only_issued_by)
    home = sources.home_member or ""
    registration = LearnerRegistration(sources.learner_id, home, sources.associate)
    members = {home: Framework(sources.framework)} if home and sources.framework else {}
    built = build_statement(states, registration, members, awards=awards)
    if only_issued_by is not None:
        return built
    # The whole chain's last ledger_seq (an award entry moves it too).
    return replace(built, ledger_seq=sources.events[-1][0] if sources.events else 0)


def render(sources: Sources) -> Rendered:
    built = build(sources)
    return Rendered(sources.learner_id, built.ledger_seq, sources.registration,
                    sources.framework, STATEMENT_FORMAT,
                    orjson.dumps(statement_json(built)).decode())


def _worth_storing(rendered: Iterable[Rendered]) -> list[Rendered]:
    return [r for r in rendered if r.ledger_seq or r.registration]


READ_CONCURRENCY = 3  # a process's statement queries at once (each for many learners)


class FreshStatements:
    """A process's hot statement reads: the lookups it is asked for at the same moment
    fetched by one query (shared.coalesce), on connections kept for these queries
    (shared.db.HeldConnections). One per service context; `aclose` at shutdown.

    The connections are an engine of their own (READ_CONCURRENCY of them), never used
    for a write. A PostgreSQL backend's table of the locks it holds grows to its largest
    transaction's (a 10,000-learner batch takes 10,000), never shrinks, and is scanned
    whole at every transaction end (LockReleaseAll): on a connection that had written a
    results-day batch, that scan was ~7% of PostgreSQL's CPU per statement read."""

    def __init__(self, settings: ServiceSettings) -> None:
        self._engine = create_engine(settings, pool_size=READ_CONCURRENCY,
                                     purpose="statement-reads")
        self._connections = HeldConnections(self._engine, keep=READ_CONCURRENCY)
        self._reads: Coalescer[str, tuple[str, int]] = Coalescer(
            self._fetch, concurrency=READ_CONCURRENCY)

    async def get(self, learner_id: str) -> tuple[str, int] | None:
        """(body, ledger_seq) of the learner's stored statement if it is fresh."""
        return await self._reads.get(learner_id)

    async def _fetch(self, learner_ids: Sequence[str]) -> dict[str, tuple[str, int]]:
        async with self._connections.connection() as db:
            return await repo.fresh_statements(db, learner_ids, STATEMENT_FORMAT)

    async def aclose(self) -> None:
        await self._connections.close()
        await self._engine.dispose()


async def read_statement(engine: AsyncEngine, learner_id: str,
                         fresh_statements: FreshStatements) -> tuple[str, int]:
    """The learner's whole statement as JSON, and the ledger_seq it reflects. The hot
    path serves the stored one (`fresh_statements`); else it is rendered now, and
    stored for the next read."""
    fresh = await fresh_statements.get(learner_id)
    if fresh is not None:
        return fresh
    async with engine.connect() as conn:
        [sources] = await repo.statement_sources(conn, [learner_id])
    rendered = render(sources)
    if stored := _worth_storing([rendered]):
        async with engine.begin() as conn:
            await repo.save_statements(conn, stored)
    return rendered.body, rendered.ledger_seq


async def member_view(engine: AsyncEngine, learner_id: str, member: str) -> Statement:
    """What `member` issued to the learner, totals over that only (never stored)."""
    async with engine.connect() as conn:
        [sources] = await repo.statement_sources(conn, [learner_id])
    return build(sources, only_issued_by=member)


RENDER_CHUNK = 500  # learners read and rendered per round trip


async def refresh(conn: AsyncConnection, learner_ids: Sequence[str]) -> int:
    """Render and store the statements of those of `learner_ids` whose stored one is not
    fresh; how many were rendered. In the caller's transaction."""
    stale = await repo.stale_learners(conn, sorted(set(learner_ids)), STATEMENT_FORMAT)
    for start in range(0, len(stale), RENDER_CHUNK):
        sources = await repo.statement_sources(conn, stale[start:start + RENDER_CHUNK])
        await repo.save_statements(conn, _worth_storing(render(s) for s in sources))
    return len(stale)
