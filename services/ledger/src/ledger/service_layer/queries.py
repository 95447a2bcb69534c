"""Reads of the ledger: a learner's chain verification, one achievement, a member's
recorded results (the statement: service_layer.statements). The ledger reads its own
table, so a read reflects every committed write; `ledger_seq` says how far."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.achievements import AchievementState, HistoryEntry, fold, history
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


@dataclass(frozen=True)
class AchievementView:
    """One achievement as its readers see it: its latest state (R-LG-3: the original kept)
    and its history."""

    learner_id: str
    state: AchievementState
    history: list[HistoryEntry]


def _views(chain: Sequence[Mapping[str, Any]], achievement_ids: Iterable[str]
           ) -> list[AchievementView]:
    """The views of these achievements of one learner, from their whole chain (the
    stored events in order): an award later in the chain marks the credit it used."""
    entries = [(entry_from_event(event), event["recorded_at"]) for event in chain]
    states = fold(entry for entry, _ in entries)
    learner_id = chain[0]["learner_id"]
    return [AchievementView(learner_id, states[aid], history(aid, entries))
            for aid in achievement_ids]


async def achievement(engine: AsyncEngine, achievement_id: str) -> AchievementView:
    """One achievement, folded from its learner's whole chain."""
    async with engine.connect() as conn:
        rows = await repo.achievement_chain(conn, achievement_id)
    if not rows:
        raise NotFound("achievement_not_found", f"no achievement {achievement_id}",
                       achievement_id=achievement_id)
    return _views([r.event for r in rows], [achievement_id])[0]


@dataclass(frozen=True)
class ResultsPage:
    achievements: list[AchievementView]
    next_after: str | None  # the result id to read on from; None on the last page


async def member_results(engine: AsyncEngine, institution_id: str, *, after: str = "",
                         limit: int) -> ResultsPage:
    """The achievements a member recorded, in result-id order, each in its latest state
    (R-LG-3) with its history: what a registrar reconciles against its own records."""
    async with engine.connect() as conn:
        page, rows = await repo.member_results(conn, institution_id, after, limit)
    chains: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        chains.setdefault(row.learner_id, []).append(row.event)
    views = {aid: view for lid, aids in _by_learner(page).items()
             for aid, view in zip(aids, _views(chains[lid], aids), strict=True)}
    achievements = [views[aid] for _, aid in page]
    last = achievements[-1].state.original.result_id if len(page) == limit else None
    return ResultsPage(achievements, last)


def _by_learner(page: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for learner_id, achievement_id in page:
        out.setdefault(learner_id, []).append(achievement_id)
    return out
