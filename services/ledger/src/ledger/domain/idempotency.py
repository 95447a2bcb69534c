"""R-LG-2: results are idempotent on (institution, result id).

The same result again changes nothing and answers as the first time; a
different result under the same id is a conflict (409): the institution must
send a correction instead. "Same" is judged on `submission_fingerprint`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

from shared.domain.errors import Conflict

ResultKey = tuple[str, str]  # (institution_id, result_id)


class Decision(StrEnum):
    NEW = "new"  # record it (201)
    SAME = "same"  # already recorded: write nothing, answer as the first time (200)
    CONFLICT = "conflict"  # another result holds this id (409)


def decide(existing_fingerprint: str | None, new_fingerprint: str) -> Decision:
    """R-LG-2 for one result, given the fingerprint already stored under its key."""
    if existing_fingerprint is None:
        return Decision.NEW
    return Decision.SAME if existing_fingerprint == new_fingerprint else Decision.CONFLICT


def decide_batch(existing: Mapping[ResultKey, str],
                 items: Iterable[tuple[ResultKey, str]]) -> list[Decision]:
    """R-LG-2 for a batch, in order. A key seen earlier in the same batch counts
    as existing, so a batch that repeats a result records it once (NEW, then SAME)
    and one that sends two different results under one id records the first and
    refuses the second (CONFLICT)."""
    seen = dict(existing)
    decisions = []
    for key, fingerprint in items:
        decision = decide(seen.get(key), fingerprint)
        if decision is Decision.NEW:
            seen[key] = fingerprint
        decisions.append(decision)
    return decisions


def conflict_message(institution_id: str, result_id: str, status: str = "current",
                     matches_latest: bool = False) -> str:
    """What a conflict (R-LG-2) tells the member, given the state of the achievement that
    holds the id (R-LG-3): `status` current, corrected or revoked; `matches_latest` when
    it was corrected to exactly the result sent."""
    first = f"{institution_id} already recorded a different result under id {result_id}"
    if matches_latest:
        return f"{first}, since corrected to this one: nothing to do"
    if status == "revoked":
        return f"{first}, since revoked: a revoked result cannot be corrected"
    return f"{first}; send a correction to change it"


def result_conflict(institution_id: str, result_id: str, *, achievement_id: str | None = None,
                    status: str = "current", matches_latest: bool = False) -> Conflict:
    """The 409 for a CONFLICT decision (R-LG-2), saying what holds the id."""
    return Conflict(
        "result_id_conflict",
        conflict_message(institution_id, result_id, status, matches_latest),
        institution_id=institution_id, result_id=result_id, achievement_id=achievement_id,
        achievement_status=status, matches_latest=matches_latest)
