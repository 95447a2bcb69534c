"""R-LG-3: nothing is updated or deleted. A learner's ledger is a sequence of
entries — recorded, corrected, revoked, award_conferred — and every view is a
fold of it: the latest content after corrections, with the original kept.

Decisions:
- A correction carries the whole corrected result (not a patch) and may not
  change who and what it is about: result id, learner, institution
  (`correction_changes_identity`). A result sent under the wrong learner is
  revoked and sent again under a new result id.
- Only the issuing institution corrects or revokes (`not_issuer`, 403: the
  wrong tenant). A revoked achievement is final (`already_revoked`, 409).
- Credit used by an award may still be corrected or revoked — the ledger
  records facts; the award service reacts to the event. An award may reuse
  credit only of awards it supersedes, upward in one stack (R-AW-5).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from ledger.domain.results import ResultSubmission, submission_fingerprint, submission_json
from shared.domain.errors import Conflict, NotFound, RuleViolation


class NotIssuer(RuleViolation):
    status = 403  # right token, wrong tenant (DESIGN §6)


class Status(StrEnum):
    CURRENT = "current"
    CORRECTED = "corrected"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Recorded:
    ledger_seq: int
    achievement_id: str
    submission: ResultSubmission


@dataclass(frozen=True)
class Corrected:
    ledger_seq: int
    achievement_id: str
    institution_id: str  # who asked for it: must be the issuer
    submission: ResultSubmission  # the whole corrected result
    reason: str = ""


@dataclass(frozen=True)
class Revoked:
    ledger_seq: int
    achievement_id: str
    institution_id: str
    reason: str = ""


@dataclass(frozen=True)
class AwardConferred:
    """R-AW-8: the award and the achievements it used, whose credit is now locked (R-AW-5)."""

    ledger_seq: int
    award_id: str
    qualification_id: str
    conferring_member: str
    achievement_ids: tuple[str, ...]
    supersedes: tuple[str, ...] = ()  # lower awards of the same stack (R-AW-5)


LedgerEntry = Recorded | Corrected | Revoked | AwardConferred


@dataclass(frozen=True)
class AchievementState:
    achievement_id: str
    original: ResultSubmission  # R-LG-3: kept
    latest: ResultSubmission
    status: Status
    recorded_seq: int
    updated_seq: int
    corrections: int = 0
    used_by_award: str | None = None
    revocation_reason: str | None = None

    @property
    def issuer(self) -> str:
        return self.original.institution_id

    @property
    def counts(self) -> bool:
        return self.status is not Status.REVOKED


def achievement_id_for(institution_id: str, result_id: str) -> str:
    """A stable id from the R-LG-2 key, so a retry names the same achievement.
    Neither part may hold ":" (DESIGN identifiers are [A-Za-z0-9._-])."""
    return f"{institution_id}:{result_id}"


def _found(state: AchievementState | None, achievement_id: str) -> AchievementState:
    if state is None:
        raise NotFound("achievement_not_found", f"no achievement {achievement_id}",
                       achievement_id=achievement_id)
    return state


def check_revocation(state: AchievementState | None, institution_id: str,
                     achievement_id: str = "") -> AchievementState:
    """R-LG-3: may `institution_id` revoke this achievement? Returns the state."""
    state = _found(state, achievement_id)
    if institution_id != state.issuer:
        raise NotIssuer("not_issuer", f"only {state.issuer} may change what it issued",
                        achievement_id=state.achievement_id, issuer=state.issuer)
    if state.status is Status.REVOKED:
        raise Conflict("already_revoked", f"{state.achievement_id} is already revoked",
                       achievement_id=state.achievement_id)
    return state


def check_correction(state: AchievementState | None, institution_id: str,
                     corrected: ResultSubmission | None = None,
                     achievement_id: str = "") -> AchievementState:
    """R-LG-3: may `institution_id` correct this achievement to `corrected`?
    (`check_submission` judges the corrected result itself.)"""
    state = check_revocation(state, institution_id, achievement_id)
    if corrected is not None:
        for name in ("result_id", "learner_id", "institution_id"):
            if getattr(corrected, name) != getattr(state.original, name):
                raise RuleViolation("correction_changes_identity",
                                    f"a correction keeps the original {name}", field=name)
    return state


def correction_is_noop(state: AchievementState, corrected: ResultSubmission) -> bool:
    """A correction to what is already the latest content appends nothing (a retry)."""
    return submission_fingerprint(corrected) == submission_fingerprint(state.latest)


def check_award(states: Mapping[str, AchievementState], award: AwardConferred) -> None:
    """R-AW-5: an award uses each achievement once, none revoked, none locked by
    another award unless that award is one it supersedes."""
    if not award.achievement_ids:
        raise RuleViolation("award_uses_nothing", "an award names the achievements it used")
    if len(set(award.achievement_ids)) != len(award.achievement_ids):
        raise RuleViolation("duplicate_achievement", "an award uses an achievement once")
    for aid in award.achievement_ids:
        state = _found(states.get(aid), aid)
        if state.status is Status.REVOKED:
            raise Conflict("achievement_revoked", f"{aid} is revoked", achievement_id=aid)
        if state.used_by_award is not None and state.used_by_award not in award.supersedes:
            raise Conflict("already_used_by_award", f"{aid} is used by {state.used_by_award}",
                           achievement_id=aid, award_id=state.used_by_award)


def apply(states: dict[str, AchievementState], entry: LedgerEntry) -> None:
    """Fold one entry into `states` (in place), enforcing the same rules as on append."""
    seq = entry.ledger_seq
    if isinstance(entry, Recorded):
        if entry.achievement_id in states:
            raise Conflict("already_recorded", f"{entry.achievement_id} is already recorded")
        states[entry.achievement_id] = AchievementState(
            entry.achievement_id, entry.submission, entry.submission, Status.CURRENT, seq, seq)
    elif isinstance(entry, Corrected):
        aid = entry.achievement_id
        state = check_correction(states.get(aid), entry.institution_id, entry.submission, aid)
        states[aid] = replace(state, latest=entry.submission, status=Status.CORRECTED,
                              corrections=state.corrections + 1, updated_seq=seq)
    elif isinstance(entry, Revoked):
        aid = entry.achievement_id
        state = check_revocation(states.get(aid), entry.institution_id, aid)
        states[aid] = replace(state, status=Status.REVOKED, updated_seq=seq,
                              revocation_reason=entry.reason)
    else:
        check_award(states, entry)
        for aid in entry.achievement_ids:
            states[aid] = replace(states[aid], used_by_award=entry.award_id, updated_seq=seq)


def fold(entries: Iterable[LedgerEntry],
         states: Mapping[str, AchievementState] | None = None) -> dict[str, AchievementState]:
    """R-LG-3: the latest state of every achievement after `entries`, continuing
    from `states` if given (so folding in batches gives the same answer)."""
    folded = dict(states or {})
    for entry in entries:
        apply(folded, entry)
    return folded


@dataclass(frozen=True)
class FieldChange:
    """One field a correction changed, by its JSON path ("grade.value"), values as given."""

    field: str
    before: Any
    after: Any


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of an achievement's history (R-LG-3): when, what, by whom, why."""

    ledger_seq: int
    kind: str  # recorded, corrected, revoked, award_conferred
    recorded_at: str
    by: str  # the issuing member; for an award, the conferring member
    reason: str | None = None
    changes: tuple[FieldChange, ...] = ()  # a correction's, against the content before it
    award_id: str | None = None


def history(achievement_id: str, entries: Iterable[tuple[LedgerEntry, str]]
            ) -> list[HistoryEntry]:
    """R-LG-3: what happened to one achievement, in chain order, from its learner's
    entries given with their `recorded_at`: recorded, each correction with the fields it
    changed and its reason, a revocation with its reason, the awards that used it."""
    out: list[HistoryEntry] = []
    content: ResultSubmission | None = None
    for entry, at in entries:
        if isinstance(entry, AwardConferred):
            if achievement_id in entry.achievement_ids:
                out.append(HistoryEntry(entry.ledger_seq, "award_conferred", at,
                                        entry.conferring_member, award_id=entry.award_id))
        elif entry.achievement_id != achievement_id:
            continue
        elif isinstance(entry, Recorded):
            content = entry.submission
            out.append(HistoryEntry(entry.ledger_seq, "recorded", at,
                                    entry.submission.institution_id))
        elif isinstance(entry, Corrected):
            changed = field_changes(content, entry.submission) if content else ()
            content = entry.submission
            out.append(HistoryEntry(entry.ledger_seq, "corrected", at, entry.institution_id,
                                    entry.reason, changed))
        else:
            out.append(HistoryEntry(entry.ledger_seq, "revoked", at, entry.institution_id,
                                    entry.reason))
    return out


def field_changes(before: ResultSubmission, after: ResultSubmission) -> tuple[FieldChange, ...]:
    """The fields of the JSON form (DESIGN §7) that differ, in path order; a list (the
    subjects) is one field."""
    old, new = _paths(submission_json(before)), _paths(submission_json(after))
    return tuple(FieldChange(path, old.get(path), new.get(path))
                 for path in sorted(old.keys() | new.keys()) if old.get(path) != new.get(path))


def _paths(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(item, Mapping):
            out |= _paths(item, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = item
    return out
