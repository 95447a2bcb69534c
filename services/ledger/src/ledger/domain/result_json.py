"""Reading a result from its JSON form (DESIGN §7 body, or a stored `recorded`
event's "result") without a validation framework, so the batch path stays cheap.

Every problem is collected and reported at once as one RuleViolation
`validation_failed` whose `errors` name each field, like the HTTP edge's own
validation errors. Floats are refused wherever a Decimal is meant (R-CR-3).
A JSON object is a `dict` here (what orjson and json give): an ABC check per
field was a tenth of the parsing time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from ledger.domain.results import (
    NO_EU_ELEMENTS,
    CourseRef,
    EuElements,
    Grade,
    Origin,
    ResultSubmission,
)
from shared.domain.credit import Credit, CreditScheme, InvalidCredit
from shared.domain.errors import RuleViolation
from shared.domain.levels import Framework, Level, LevelError
from shared.domain.subjects import SubjectShare

FIELDS = frozenset({"result_id", "learner_id", "institution_id", "course", "title", "credit",
                    "level", "subjects", "grade", "assessed_on", "origin", "notional_hours",
                    "eu"})
REQUIRED_FIELDS = FIELDS - {"course", "origin", "notional_hours", "eu"}
SCHEMES = {s.value: s for s in CreditScheme}  # a known one as its enum: no Enum() call per row
FRAMEWORKS = {f.value: f for f in Framework}
ORIGINS = {o.value: o for o in Origin}


def decimal_of(value: Any) -> Decimal | None:
    """A credit, a share or a workload as given: a string or an integer, finite; None
    for anything else, a float above all (R-CR-3)."""
    if isinstance(value, (str, int)) and not isinstance(value, bool):
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        if number.is_finite():
            return number
    return None


def day_of(value: Any) -> date | None:
    """An ISO date, YYYY-MM-DD (what Python 3.11 also reads: 2026-W25-6); None otherwise."""
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value)
        except ValueError:
            return None
    return None


class _Reader:
    def __init__(self, missing: set[str]) -> None:
        self.errors: list[dict[str, str]] = [
            {"field": key, "reason": "missing", "message": f"{key} is required"}
            for key in sorted(missing)]
        self.missing = missing

    def fail(self, field: str, reason: str, message: str) -> None:
        if field.split(".")[0] in self.missing:
            return  # already reported as missing
        self.errors.append({"field": field, "reason": reason, "message": message})

    def text(self, data: Mapping[str, Any], key: str, where: str, *, optional: bool = False
             ) -> str | None:
        value = data.get(key)
        if value is None and optional:
            return None
        if not isinstance(value, str) or not value.strip():
            self.fail(where, "string_required", f"{where} must be a non-empty string")
            return None
        return value

    def obj(self, data: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
        """The object at `key`; None, reported, when it is not one (an empty object is
        one: its fields are then each reported missing by the caller's reads)."""
        value = data.get(key)
        if not isinstance(value, dict):
            self.fail(key, "object_required", f"{key} must be an object")
            return None
        return value

    def decimal(self, value: Any, where: str) -> Decimal | None:
        number = decimal_of(value)
        if number is not None:
            return number
        self.fail(where, "decimal_required", f"{where} must be a decimal number given as a "
                  "string or an integer (never a float)")
        return None

    def day(self, value: Any, where: str) -> date | None:
        day = day_of(value)
        if day is not None:
            return day
        self.fail(where, "date_required", f"{where} must be an ISO date, YYYY-MM-DD")
        return None

    def credit(self, data: Mapping[str, Any]) -> Credit | None:
        raw = self.obj(data, "credit")
        value = None if raw is None else self.decimal(raw.get("value"), "credit.value")
        if raw is None or value is None:
            return None
        try:
            scheme = raw.get("scheme")
            return Credit(value, SCHEMES.get(scheme, scheme) if isinstance(scheme, str)
                          else scheme)  # R-CR-3
        except InvalidCredit as error:
            self.fail(f"credit.{error.field}", "invalid_credit", error.reason)
            return None

    def level(self, data: Mapping[str, Any]) -> Level | None:
        raw = self.obj(data, "level")
        if raw is None:
            return None
        value = raw.get("value")
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail("level.value", "integer_required", "level.value must be an integer")
            return None
        try:
            framework = raw.get("framework")
            return Level(FRAMEWORKS.get(framework, framework) if isinstance(framework, str)
                         else framework, value)  # R-LV-1
        except LevelError as error:
            field = "level.framework" if "framework" in str(error) else "level.value"
            self.fail(field, "invalid_level", str(error))
            return None

    def subjects(self, data: Mapping[str, Any]) -> tuple[SubjectShare, ...]:
        raw = data.get("subjects")
        if not isinstance(raw, list) or not raw:
            self.fail("subjects", "list_required", "subjects must be a non-empty list")
            return ()
        shares = []
        for i, item in enumerate(raw):
            item = item if isinstance(item, dict) else {}
            hecos = self.text(item, "hecos", f"subjects[{i}].hecos")
            percent = self.decimal(item.get("percent"), f"subjects[{i}].percent")
            if hecos is not None and percent is not None:
                shares.append(SubjectShare(hecos, percent))
        return tuple(shares)

    def eu(self, raw: Any) -> EuElements:
        if raw is None:
            return NO_EU_ELEMENTS
        if not isinstance(raw, dict) or set(raw) - set(EuElements.__dataclass_fields__):
            self.fail("eu", "invalid_eu_elements", "eu must be an object of R-CAT-5 elements: "
                      + ", ".join(EuElements.__dataclass_fields__))
            return EuElements()
        outcomes = raw.get("learning_outcomes") or ()
        if not isinstance(outcomes, (list, tuple)) or not all(isinstance(o, str) for o in outcomes):
            self.fail("eu.learning_outcomes", "list_required", "a list of strings")
            outcomes = ()
        eqf = raw.get("eqf_level")
        if eqf is not None and (isinstance(eqf, bool) or not isinstance(eqf, int)):
            self.fail("eu.eqf_level", "integer_required", "eu.eqf_level must be an integer")
            eqf = None
        texts = {k: self.text(raw, k, f"eu.{k}", optional=True) for k in (
            "country", "awarding_body", "assessment", "participation", "quality_assurance")}
        issued = raw.get("issued_on")
        workload = raw.get("workload_ects")
        return EuElements(
            **texts, learning_outcomes=tuple(outcomes), eqf_level=eqf,
            issued_on=None if issued is None else self.day(issued, "eu.issued_on"),
            workload_ects=None if workload is None else self.decimal(workload, "eu.workload_ects"))


def parse_submission(data: Any) -> ResultSubmission:
    """A ResultSubmission from its JSON form, or RuleViolation `validation_failed`
    listing every bad field. Rules across fields are `check_submission`'s."""
    if not isinstance(data, dict):
        raise RuleViolation("validation_failed", "A result is a JSON object",
                            errors=[{"field": "body", "reason": "object_required",
                                     "message": "a result is a JSON object"}])
    r = _Reader(REQUIRED_FIELDS - set(data))
    for key in sorted(set(data) - FIELDS):
        r.fail(key, "unknown_field", f"{key} is not a field of a result")
    ids = {k: r.text(data, k, k) for k in ("result_id", "learner_id", "institution_id", "title")}
    course = None
    if data.get("course") is not None:
        raw = r.obj(data, "course") or {}
        inst, code = r.text(raw, "institution_id", "course.institution_id"), r.text(
            raw, "code", "course.code")
        course = CourseRef(inst or "", code or "")
    grade_raw = r.obj(data, "grade") or {}
    grade = Grade(r.text(grade_raw, "scale", "grade.scale") or "",
                  r.text(grade_raw, "value", "grade.value") or "")
    origin = data.get("origin", "member")
    origin = ORIGINS.get(origin) if isinstance(origin, str) else None  # a list: unhashable
    if origin is None:
        r.fail("origin", "invalid_origin", "origin is 'member' or 'rpl'")
        origin = Origin.MEMBER
    hours = data.get("notional_hours")
    if hours is not None and (isinstance(hours, bool) or not isinstance(hours, int) or hours <= 0):
        r.fail("notional_hours", "invalid_notional_hours", "a positive integer")
    credit, level, subjects = r.credit(data), r.level(data), r.subjects(data)
    assessed_on, eu = r.day(data.get("assessed_on"), "assessed_on"), r.eu(data.get("eu"))
    if r.errors:
        fields = ", ".join(dict.fromkeys(e["field"] for e in r.errors))
        raise RuleViolation("validation_failed", "The result is not valid",
                            detail=f"invalid: {fields}", errors=r.errors)
    return ResultSubmission(
        ids["result_id"], ids["learner_id"], ids["institution_id"], course, ids["title"],
        credit, level, subjects, grade, assessed_on, origin, hours, eu)  # type: ignore[arg-type]
