"""The learner's consolidated statement (issue 4 item 4): every achievement from
every member, credit as given and normalised (R-CR-2..4), levels (R-LV), and
totals in UK credits and ECTS; the associate-learner cap flag (R-MB-2).

Decisions:
- Totals count the latest value of every achievement not revoked; a revoked
  one is listed but not counted (R-LG-3). Sums are exact Decimals; only the
  `*_display` strings are rounded (R-CR-3).
- "By level" is keyed by the level as given ("SCQF:11"): nothing is guessed
  (R-LV-3). `by_home_level` regroups into the home member's framework where the
  table is one-to-one, and under "level_ambiguous" / "level_unmapped" otherwise.
- R-MB-2: RPL credit is not study at the member, so it does not count toward
  the associate caps unless the policy says so. "At most N" flags above N.
- Awards (R-AW-8) are listed with the achievements each used; an award a higher
  one of its stack replaced names it in `superseded_by` (R-AW-5). Credit used by
  an award still counts in the totals: it is the learner's credit; the lock only
  stops another award from using it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from ledger.domain.achievements import AchievementState, AwardConferred, Status
from ledger.domain.associate_cap import (
    DEFAULT_ASSOCIATE_CAPS,
    AssociateCapFlag,
    LevelBand,
    associate_cap_flags,
)
from ledger.domain.results import CourseRef, Grade, Origin
from shared.domain.credit import (
    DEFAULT_CONVERSION,
    ConversionPolicy,
    Credit,
    display,
    to_ects,
    to_uk_credits,
)
from shared.domain.levels import Framework, Level, LevelError, convert, equivalents

ZERO = Decimal(0)


@dataclass(frozen=True)
class StatementPolicy:
    """Every figure a default the consortium may change (DOMAIN.md preamble)."""

    conversion: ConversionPolicy = DEFAULT_CONVERSION  # R-CR-4: ratio by default
    associate_caps: tuple[LevelBand, ...] = DEFAULT_ASSOCIATE_CAPS  # R-MB-2
    rpl_counts_toward_associate_cap: bool = False
    default_framework: Framework = Framework.FHEQ  # when the home member is unknown


DEFAULT_STATEMENT_POLICY = StatementPolicy()


@dataclass(frozen=True)
class LearnerRegistration:
    learner_id: str
    home_member: str
    associate: bool = False  # R-MB-2: studying modules without a degree registration


@dataclass(frozen=True)
class Totals:
    uk_credits: Decimal = ZERO
    ects: Decimal = ZERO

    def plus(self, uk_credits: Decimal, ects: Decimal) -> Totals:
        return Totals(self.uk_credits + uk_credits, self.ects + ects)

    @property
    def uk_display(self) -> str:
        return display(self.uk_credits)

    @property
    def ects_display(self) -> str:
        return display(self.ects)


@dataclass(frozen=True)
class StatementLine:
    achievement_id: str
    member: str
    course: CourseRef | None
    title: str
    credit: Credit  # as given (R-CR-3)
    notional_hours: int | None
    uk_credits: Decimal  # R-CR-2..4, unrounded
    ects: Decimal
    level: Level  # as given (R-LV-1)
    level_equivalents: tuple[Level, ...]  # one-to-one ones only (R-LV-3)
    grade: Grade
    assessed_on: date
    origin: Origin
    status: Status
    used_by_award: str | None
    corrections: int
    counted: bool
    revocation_reason: str | None = None  # R-LG-3: why a revoked achievement no longer counts

    @property
    def uk_display(self) -> str:
        return display(self.uk_credits)

    @property
    def ects_display(self) -> str:
        return display(self.ects)


@dataclass(frozen=True)
class AwardLine:
    """R-AW-8: an award on the learner's ledger."""

    award_id: str
    qualification_id: str
    conferring_member: str
    achievement_ids: tuple[str, ...]
    conferred_at: datetime  # when the ledger recorded it
    ledger_seq: int
    superseded_by: str | None = None  # R-AW-5: the higher award of its stack, if any


def award_lines(conferred: Iterable[tuple[AwardConferred, datetime]]) -> tuple[AwardLine, ...]:
    """The learner's awards in chain order, each with the award that superseded it."""
    ordered = list(conferred)
    superseded_by = {old: award.award_id for award, _ in ordered for old in award.supersedes}
    return tuple(AwardLine(a.award_id, a.qualification_id, a.conferring_member,
                           a.achievement_ids, at, a.ledger_seq, superseded_by.get(a.award_id))
                 for a, at in ordered)


@dataclass(frozen=True)
class Statement:
    learner_id: str
    home_member: str
    associate: bool
    lines: tuple[StatementLine, ...]
    total: Totals
    by_level: Mapping[str, Totals]
    by_home_level: Mapping[str, Totals]
    by_member: Mapping[str, Totals]
    associate_cap_flags: tuple[AssociateCapFlag, ...]
    ledger_seq: int  # the last entry the statement reflects (0: none)
    awards: tuple[AwardLine, ...] = ()


@cache  # a pure function of one of the few dozen levels there are: worked out once each
def unambiguous_equivalents(level: Level) -> tuple[Level, ...]:
    """R-LV-2/3: the level in each other framework where the table gives exactly one."""
    found = (equivalents(level, fw) for fw in Framework if fw is not level.framework)
    return tuple(next(iter(levels)) for levels in found if len(levels) == 1)


def statement_line(state: AchievementState, policy: StatementPolicy) -> StatementLine:
    sub = state.latest  # R-LG-3: the latest content after corrections
    hours = None if sub.notional_hours is None else Decimal(sub.notional_hours)
    return StatementLine(
        state.achievement_id, sub.institution_id, sub.course, sub.title, sub.credit,
        sub.notional_hours,
        to_uk_credits(sub.credit, notional_hours=hours, policy=policy.conversion),
        to_ects(sub.credit, notional_hours=hours, policy=policy.conversion),
        sub.level, unambiguous_equivalents(sub.level), sub.grade, sub.assessed_on, sub.origin,
        state.status, state.used_by_award, state.corrections, state.status is not Status.REVOKED,
        state.revocation_reason)


@cache  # as above: levels x frameworks
def _home_level_key(level: Level, home: Framework) -> str:
    try:
        return str(convert(level, home))
    except LevelError as error:  # LevelAmbiguous / LevelUnmapped carry the R-LV-3 reason
        return getattr(error, "reason", "level_unmapped")


def build_statement(states: Iterable[AchievementState], registration: LearnerRegistration,
                    members: Mapping[str, Framework], *,
                    policy: StatementPolicy = DEFAULT_STATEMENT_POLICY,
                    awards: tuple[AwardLine, ...] = ()) -> Statement:
    ordered = sorted(states, key=lambda s: (s.latest.assessed_on, s.recorded_seq))
    lines = tuple(statement_line(s, policy) for s in ordered)
    home = Framework(members.get(registration.home_member, policy.default_framework))
    # Running sums as [uk, ects] pairs, made Totals once at the end: the same Decimal
    # additions in the same order as Totals.plus, without a new object per addition.
    total = [ZERO, ZERO]
    by_level: dict[str, list[Decimal]] = {}
    by_home_level: dict[str, list[Decimal]] = {}
    by_member: dict[str, list[Decimal]] = {}
    for line in lines:
        if not line.counted:
            continue
        uk, ects = line.uk_credits, line.ects
        total[0] += uk
        total[1] += ects
        for table, key in ((by_level, str(line.level)), (by_member, line.member),
                           (by_home_level, _home_level_key(line.level, home))):
            sums = table.get(key)
            if sums is None:
                table[key] = [ZERO + uk, ZERO + ects]  # as Totals().plus(uk, ects)
            else:
                sums[0] += uk
                sums[1] += ects
    flags: tuple[AssociateCapFlag, ...] = ()
    if registration.associate:  # R-MB-2
        capped = [(line.member, line.level, line.uk_credits) for line in lines if line.counted
                  and (policy.rpl_counts_toward_associate_cap or line.origin is not Origin.RPL)]
        flags = associate_cap_flags(capped, policy.associate_caps)
    last_seq = max((s.updated_seq for s in ordered), default=0)
    return Statement(registration.learner_id, registration.home_member, registration.associate,
                     lines, Totals(*total), _totals(by_level), _totals(by_home_level),
                     _totals(by_member), flags, last_seq, awards)


def _totals(sums: dict[str, list[Decimal]]) -> dict[str, Totals]:
    return {key: Totals(uk, ects) for key, (uk, ects) in sums.items()}


def issued_by(states: Iterable[AchievementState], member: str) -> list[AchievementState]:
    """What a member may see of a learner's statement: what it issued (issue 4 item 4)."""
    return [s for s in states if s.issuer == member]


# The statement as the API serves it (DESIGN §7) and as the read model stores it
# (adapters.statements). Bump STATEMENT_FORMAT whenever this form or the policy behind
# the figures changes: every stored statement of another format is then stale.
STATEMENT_FORMAT = 3  # 2: awards; 3: a revoked line's revocation_reason


def _totals_json(t: Totals) -> dict[str, str]:
    return {"uk_credits": t.uk_display, "ects": t.ects_display}


def _line_json(line: StatementLine) -> dict[str, Any]:
    return {
        "achievement_id": line.achievement_id, "member": line.member,
        "course": None if line.course is None else {
            "institution_id": line.course.institution_id, "code": line.course.code},
        "title": line.title,
        "credit": {"value": str(line.credit.value), "scheme": line.credit.scheme.value},
        "uk_credits": line.uk_display, "ects": line.ects_display,
        "notional_hours": line.notional_hours,
        "level": {"framework": line.level.framework.value, "value": line.level.value},
        "level_equivalents": [str(lv) for lv in line.level_equivalents],
        "grade": {"scale": line.grade.scale, "value": line.grade.value},
        "assessed_on": line.assessed_on.isoformat(), "origin": line.origin.value,
        "status": line.status.value, "corrections": line.corrections,
        "used_by_award": line.used_by_award, "counted": line.counted,
        "revocation_reason": line.revocation_reason,
    }


def statement_json(s: Statement) -> dict[str, Any]:
    """JSON-safe: figures as exact decimal strings (R-CR-3)."""
    return {
        "learner_id": s.learner_id, "home_member": s.home_member or None,
        "associate": s.associate, "ledger_seq": s.ledger_seq,
        "achievements": [_line_json(line) for line in s.lines],
        "totals": _totals_json(s.total),
        "by_level": {k: _totals_json(v) for k, v in sorted(s.by_level.items())},
        "by_home_level": {k: _totals_json(v) for k, v in sorted(s.by_home_level.items())},
        "by_member": {k: _totals_json(v) for k, v in sorted(s.by_member.items())},
        "associate_cap_flags": [  # R-MB-2
            {"member": f.member, "band": f.band, "uk_credits": str(f.uk_credits),
             "cap": str(f.cap), "over_by": str(f.over_by)} for f in s.associate_cap_flags],
        "awards": [  # R-AW-8
            {"award_id": a.award_id, "qualification_id": a.qualification_id,
             "conferring_member": a.conferring_member, "achievements": list(a.achievement_ids),
             "conferred_at": a.conferred_at.isoformat(), "ledger_seq": a.ledger_seq,
             "superseded_by": a.superseded_by} for a in s.awards],
    }
