"""Reads of one learner's ledger: the consolidated statement, the chain verification,
one achievement. The ledger reads its own table, so a read reflects every committed
write; `ledger_seq` says how far.

The statement is the hot read (issue 4: thousands a second): two queries, the learner's
events (through the entries adapter, which owns how `event` is stored) and, in one,
their registration with the home member's framework. Each query costs the API process
~0.25 ms of CPU here (SQLAlchemy, asyncpg, the event loop), more than folding ten events.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.achievements import AchievementState, fold
from ledger.domain.chain import ChainEntry, Verification, verify
from ledger.domain.entry_events import entry_from_event
from ledger.domain.statement import LearnerRegistration, Statement, build_statement, issued_by
from shared.domain.errors import NotFound
from shared.domain.levels import Framework


async def statement(engine: AsyncEngine, learner_id: str, *,
                    only_issued_by: str | None = None) -> Statement:
    """Issue 4 item 4. `only_issued_by`: a member's view, what it issued and nothing else
    (totals and R-MB-2 flags over those lines only). An unknown learner has an empty
    statement: a 404 would tell a member whether others hold records of them."""
    async with engine.connect() as conn:
        rows = await repo.learner_events(conn, learner_id)
        registration, framework = await _registration(conn, learner_id)
    states = fold(entry_from_event(r.event) for r in rows).values()
    if only_issued_by is not None:
        states = issued_by(states, only_issued_by)
    home = registration.home_member
    members = {home: Framework(framework)} if framework else {}
    built = build_statement(states, registration, members)
    return built if only_issued_by is not None else _at(built, rows)


async def _registration(conn: AsyncConnection, learner_id: str
                        ) -> tuple[LearnerRegistration, str | None]:
    row = await repo.learner_registration(conn, learner_id)
    if row is None:
        return LearnerRegistration(learner_id, "", False), None
    return LearnerRegistration(learner_id, row.home_member, bool(row.associate)), row.framework


def _at(built: Statement, rows: list) -> Statement:
    """The whole chain's last ledger_seq (an award entry moves it too)."""
    return replace(built, ledger_seq=rows[-1].ledger_seq if rows else 0)


@dataclass(frozen=True)
class ChainCheck:
    learner_id: str
    ledger_seq: int  # the last stored entry
    verification: Verification


async def verify_chain(engine: AsyncEngine, learner_id: str) -> ChainCheck:
    """R-LG-4: recompute the learner's chain from the stored events."""
    async with engine.connect() as conn:
        rows = await repo.learner_events(conn, learner_id)
    result = verify(ChainEntry(r.ledger_seq, r.event, r.prev_hash, r.hash) for r in rows)
    return ChainCheck(learner_id, rows[-1].ledger_seq if rows else 0, result)


async def achievement(engine: AsyncEngine, achievement_id: str
                      ) -> tuple[str, AchievementState]:
    """(learner_id, latest state) of one achievement."""
    async with engine.connect() as conn:
        rows = await repo.achievement_events(conn, achievement_id)
    if not rows:
        raise NotFound("achievement_not_found", f"no achievement {achievement_id}",
                       achievement_id=achievement_id)
    return rows[0].learner_id, fold(entry_from_event(r.event) for r in rows)[achievement_id]
