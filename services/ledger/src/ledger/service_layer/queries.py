"""Reads of the ledger: a learner's chain verification, one achievement, a member's
recorded results (the statement: service_layer.statements). The ledger reads its own
table, so a read reflects every committed write; `ledger_seq` says how far."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.achievements import AchievementState, fold
from ledger.domain.chain import ChainEntry, Verification, verify
from ledger.domain.entry_events import entry_from_event
from shared.domain.errors import NotFound


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


@dataclass(frozen=True)
class ResultsPage:
    achievements: list[tuple[str, AchievementState]]  # (learner_id, latest state)
    next_after: str | None  # the result id to read on from; None on the last page


async def member_results(engine: AsyncEngine, institution_id: str, *, after: str = "",
                         limit: int) -> ResultsPage:
    """The achievements a member recorded, in result-id order, each in its latest state
    (R-LG-3): what a registrar reconciles against its own records."""
    async with engine.connect() as conn:
        rows = await repo.member_results(conn, institution_id, after, limit)
    by_result: dict[str, list] = {}
    for row in rows:
        by_result.setdefault(row.result_id, []).append(row)
    achievements = [(group[0].learner_id,
                     next(iter(fold(entry_from_event(r.event) for r in group).values())))
                    for group in by_result.values()]
    return ResultsPage(achievements, list(by_result)[-1] if len(by_result) == limit else None)
