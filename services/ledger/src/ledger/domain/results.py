"""A result as a member submits it (R-LG-1, R-LG-5), its checks, and its
idempotency fingerprint (R-LG-2).

Decisions:
- The record is self-describing (R-LG-1): credit, level, subjects and title
  travel with it, so it is accepted before the catalogue knows the course.
- A member records results only for its own courses (`course_of_another_member`):
  recognition at another member is the transfer service's decision (R-TR-3),
  never the issuer's. For `rpl` (R-LG-5) the course may be left out — prior
  learning recognised as general credit — but a course, when named, is the
  recording member's own (typically "recognised as our module X").
- A `member` result names its course (`course_required`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import Any

from ledger.domain.canonical import canonical_json_fast, sha256_tagged, to_json_value
from shared.domain.credit import MAX_NOTIONAL_HOURS, Credit
from shared.domain.errors import RuleViolation
from shared.domain.levels import FRAMEWORK_RANGES, Framework, Level
from shared.domain.subjects import InvalidSubjects, SubjectShare, validate_subjects


class Origin(StrEnum):
    MEMBER = "member"
    RPL = "rpl"  # R-LG-5: prior learning from outside the consortium, recognised by a member


@dataclass(frozen=True)
class CourseRef:
    institution_id: str
    code: str


@dataclass(frozen=True)
class Grade:
    """Scale and value kept exactly as given (R-LG-1): "68" on "UK-PERCENT", "B+" on "US-LETTER"."""

    scale: str
    value: str


@dataclass(frozen=True)
class EuElements:
    """The R-CAT-5 elements a result may carry beyond its own fields, where known
    (R-LG-1). Learner, title, workload and level are the result's own fields."""

    country: str | None = None
    awarding_body: str | None = None
    issued_on: date | None = None
    learning_outcomes: tuple[str, ...] = ()
    assessment: str | None = None
    participation: str | None = None
    quality_assurance: str | None = None
    workload_ects: Decimal | None = None
    eqf_level: int | None = None

    def is_empty(self) -> bool:
        return self is NO_EU_ELEMENTS or self == NO_EU_ELEMENTS


NO_EU_ELEMENTS = EuElements()  # shared by every result without them (immutable)


@dataclass(frozen=True)
class ResultSubmission:
    """R-LG-1: one assessed result, as the issuing institution gave it."""

    result_id: str
    learner_id: str
    institution_id: str
    course: CourseRef | None
    title: str
    credit: Credit
    level: Level
    subjects: tuple[SubjectShare, ...]
    grade: Grade
    assessed_on: date
    origin: Origin = Origin.MEMBER
    notional_hours: int | None = None
    eu: EuElements = NO_EU_ELEMENTS


def check_submission(sub: ResultSubmission, *, today: date) -> None:
    """The ledger's rules for a result; raises RuleViolation naming the field.

    Value-level rules (scheme, positive credit, level in its framework) were
    already enforced when Credit and Level were built.
    """
    for name in ("result_id", "learner_id", "institution_id", "title"):
        if not getattr(sub, name).strip():
            raise RuleViolation("field_required", f"{name} must not be empty", field=name)
    if sub.assessed_on > today:
        raise RuleViolation("assessed_in_future",
                            f"assessed_on {sub.assessed_on} is after today ({today})",
                            field="assessed_on")
    if sub.course is None:
        if sub.origin is not Origin.RPL:
            raise RuleViolation("course_required", "a member result names its course",
                                field="course")
    elif sub.course.institution_id != sub.institution_id:
        raise RuleViolation(
            "course_of_another_member",
            f"{sub.institution_id} may record results only for its own courses, "
            f"not {sub.course.institution_id}'s", field="course.institution_id")
    hours = sub.notional_hours
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int)
                              or not 0 < hours <= MAX_NOTIONAL_HOURS):
        raise RuleViolation("invalid_notional_hours", "notional_hours must be a positive "
                            f"integer, at most {MAX_NOTIONAL_HOURS:,}", field="notional_hours")
    eqf, (low, high) = sub.eu.eqf_level, FRAMEWORK_RANGES[Framework.EQF]
    if eqf is not None and not low <= eqf <= high:  # R-LV-1
        raise RuleViolation("invalid_level", f"EQF has levels {low}-{high}; {eqf} is outside "
                            "them", field="eu.eqf_level")
    if not (sub.grade.scale.strip() and sub.grade.value.strip()):
        raise RuleViolation("grade_incomplete", "a grade states its scale and its value",
                            field="grade")
    try:
        validate_subjects(sub.subjects)  # R-CAT-1: HECoS shares summing to 100
    except InvalidSubjects as error:
        raise RuleViolation("invalid_subjects", error.reason, field=error.field) from None


def submission_json(sub: ResultSubmission) -> dict[str, Any]:
    """The JSON form (DESIGN §7 body) stored in the `recorded` event, values as given.
    Absent optional parts are left out rather than written as null."""
    body: dict[str, Any] = {
        "result_id": sub.result_id, "learner_id": sub.learner_id,
        "institution_id": sub.institution_id,
        "title": sub.title,
        "credit": {"value": str(sub.credit.value), "scheme": sub.credit.scheme.value},
        "level": {"framework": sub.level.framework.value, "value": sub.level.value},
        "subjects": [{"hecos": s.hecos, "percent": str(s.percent)} for s in sub.subjects],
        "grade": {"scale": sub.grade.scale, "value": sub.grade.value},
        "assessed_on": sub.assessed_on.isoformat(), "origin": sub.origin.value,
    }
    if sub.course is not None:
        body["course"] = {"institution_id": sub.course.institution_id, "code": sub.course.code}
    if sub.notional_hours is not None:
        body["notional_hours"] = sub.notional_hours
    if not sub.eu.is_empty():
        eu = {name: to_json_value(getattr(sub.eu, name)) for name in _EU_FIELDS}
        body["eu"] = {k: v for k, v in eu.items() if v not in (None, [])}
    return body


_EU_FIELDS = tuple(EuElements.__dataclass_fields__)


def _same_number(text: str) -> str:
    """"15.0" and "15" are one number: a resend must not conflict over trailing zeros.
    Exact: format(..., "f") never rounds, where Decimal.normalize() would past 28 digits."""
    if text.isascii() and text.isdigit() and (text[0] != "0" or text == "0"):
        return text  # already the plain form ("15"): the usual case, no Decimal
    plain = format(Decimal(text), "f")
    return plain.rstrip("0").rstrip(".") if "." in plain else plain


def submission_fingerprint(sub: ResultSubmission) -> str:
    """R-LG-2: "sha256:<hex>" over the RFC 8785 form of `submission_json`, with
    credit, percentages and workload compared as numbers ("15" = "15.0") and
    subjects in HECoS order; every other field, the grade included, compares
    exactly as given."""
    return fingerprint_of_json(submission_json(sub))


def fingerprint_of_json(body: dict[str, Any]) -> str:
    """`submission_fingerprint` of a submission whose `submission_json` is `body`
    (left unchanged, so the caller may store it too). Only what compares as a number or
    as shares differs from `body`; the usual result ("15", one share of "100") has
    nothing to change and is hashed as it is, with no copy."""
    same = body
    credit = body["credit"]
    value = _same_number(credit["value"])
    if value is not credit["value"]:  # _same_number gives a plain number back as it is
        same = {**body, "credit": {**credit, "value": value}}
    subjects = _same_shares(body["subjects"])
    if subjects is not body["subjects"]:
        same = {**same, "subjects": subjects}
    eu = body.get("eu")
    if eu is not None and "workload_ects" in eu:
        same = {**same, "eu": {**eu, "workload_ects": _same_number(eu["workload_ects"])}}
    return sha256_tagged(canonical_json_fast(same))


def _same_shares(shares: list[dict[str, str]]) -> list[dict[str, str]]:
    """Shares, not a sequence: in HECoS order, percentages as numbers; `shares` itself
    when that changes nothing."""
    if len(shares) == 1 and _same_number(shares[0]["percent"]) is shares[0]["percent"]:
        return shares
    return sorted(({**share, "percent": _same_number(share["percent"])} for share in shares),
                  key=lambda share: share["hecos"])
