"""Corrections and revocations (R-LG-3): new entries naming the original, chained like
every other (R-LG-4), under the same per-learner lock.

Decisions:
- A correction identical to the latest content appends nothing and answers 200 with
  the ledger_seq of the latest state (a retry must not pile up corrections).
- A revocation retried with the same reason by the issuer answers 200 with the same
  body as the first time (the revocation's ledger_seq); a different reason for an
  already revoked achievement is 409 `already_revoked`. A revocation is final.
- A revocation's dry run (a registrar checking a file of revocations before sending it)
  decides exactly as the revocation would, against what is stored now, in a read-only
  transaction: no lock, no entry. Its Amendment says `dry_run`; `appended` is then what
  the revocation would do, and a would-be entry has no ledger_seq.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ledger.adapters import entries as repo
from ledger.domain.achievements import (
    AchievementState,
    Corrected,
    Revoked,
    Status,
    check_correction,
    check_revocation,
    correction_is_noop,
    fold,
)
from ledger.domain.entry_events import entry_from_event
from ledger.domain.result_json import parse_submission
from ledger.domain.results import check_submission, submission_fingerprint
from ledger.service_layer.chaining import append_entry
from shared.domain.errors import NotFound


@dataclass(frozen=True)
class Amendment:
    achievement_id: str
    learner_id: str
    ledger_seq: int | None  # None: a dry run's would-be entry
    status: Status
    appended: bool  # False: a retry that changed nothing
    dry_run: bool = False  # nothing was written: `appended` is what would have been


async def _achievement_state(conn: AsyncConnection, achievement_id: str, *, lock: bool = True
                        ) -> tuple[str, AchievementState, list[Any]]:
    rows = await repo.achievement_events(conn, achievement_id)
    if not rows:
        raise NotFound("achievement_not_found", f"no achievement {achievement_id}",
                       achievement_id=achievement_id)
    learner_id = rows[0].learner_id
    if lock:  # an amendment: decided and appended under the learner's lock
        await repo.lock_learners(conn, [learner_id])
        rows = await repo.achievement_events(conn, achievement_id)  # again, under the lock
    states = fold(entry_from_event(r.event) for r in rows)
    return learner_id, states[achievement_id], rows


async def correct_achievement(engine: AsyncEngine, institution_id: str, achievement_id: str,
                              result: Any, reason: str, *, today: date) -> Amendment:
    corrected = parse_submission(result)
    check_submission(corrected, today=today)
    async with engine.begin() as conn:
        learner_id, state, _ = await _achievement_state(conn, achievement_id)
        check_correction(state, institution_id, corrected, achievement_id)
        if correction_is_noop(state, corrected):
            return Amendment(achievement_id, learner_id, state.updated_seq, state.status, False)
        seq = await append_entry(conn, learner_id,
                                 lambda s: Corrected(s, achievement_id, institution_id,
                                                     corrected, reason),
                                 result_id=corrected.result_id,
                                 fingerprint=submission_fingerprint(corrected))
    return Amendment(achievement_id, learner_id, seq, Status.CORRECTED, True)


async def revoke_achievement(engine: AsyncEngine, institution_id: str, achievement_id: str,
                             reason: str, *, dry_run: bool = False) -> Amendment:
    """`dry_run`: decided, not written (module docstring)."""
    async with engine.connect() as conn, conn.begin():
        if dry_run:
            await conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        learner_id, state, rows = await _achievement_state(conn, achievement_id, lock=not dry_run)
        if state.status is Status.REVOKED and institution_id == state.issuer:
            last = rows[-1].event
            if last["kind"] == "revoked" and last.get("reason", "") == reason:  # a retry
                return Amendment(achievement_id, learner_id, last["ledger_seq"],
                                 Status.REVOKED, False, dry_run)
        check_revocation(state, institution_id, achievement_id)
        if dry_run:
            return Amendment(achievement_id, learner_id, None, Status.REVOKED, True, True)
        seq = await append_entry(conn, learner_id,
                                 lambda s: Revoked(s, achievement_id, institution_id, reason),
                                 result_id=state.original.result_id)
    return Amendment(achievement_id, learner_id, seq, Status.REVOKED, True)
