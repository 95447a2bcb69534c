"""The results' fast path: a results-day batch, or a single result, decoded straight
from its bytes into typed results (msgspec), for the common shape of a good result.

Why: reading each item with orjson and then checking each field by hand took about a
third of the API's CPU per result on the ingest path; msgspec checks the types while it
decodes, in C. What is left per item is to build the domain's values, with the very
conversions the general reader uses (`ledger.domain.result_json`). Measured with
ledger_ingest (2026-12-03): the API's CPU per result fell from ~82 µs to 52-65 µs.
The values a batch repeats (credit, level, subjects, course, grade) are then built once
and shared (below `_KEEP`): half of this module's time per result, and 3-7% of the API's
CPU in ledger_ingest (2026-12-03, two runs each way, side by side).

The general reader stays the authority: an item is taken here only when the general
reader would read it to the same ResultSubmission. Anything else (a missing or unknown
field, a wrong type, a blank string, a float, `eu` elements, a number orjson reads as a
float) is handed over as its parsed JSON, and the general reader reports every problem as
always. A body whose shape is not `{"results": [1 to limit items]}`, or that orjson would
refuse, is handed over whole: the caller then answers exactly as without this path.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec
import orjson

from ledger.domain.result_json import FRAMEWORKS, ORIGINS, SCHEMES, day_of, decimal_of
from ledger.domain.results import CourseRef, Grade, ResultSubmission
from shared.domain.credit import Credit, InvalidCredit
from shared.domain.levels import Level, LevelError
from shared.domain.subjects import SubjectShare

# orjson reads a JSON integer outside these bounds as a float (refused as a credit);
# msgspec reads it as an int, so such an item takes the general path.
_INT_LOW, _INT_HIGH = -(2**63), 2**64 - 1


class _Struct(msgspec.Struct, forbid_unknown_fields=True):
    pass


class _Credit(_Struct):
    value: str | int
    scheme: str


class _Level(_Struct):
    framework: str
    value: int


class _Share(_Struct):
    hecos: str
    percent: str | int


class _Grade(_Struct):
    scale: str
    value: str


class _Course(_Struct):
    institution_id: str
    code: str


class _Result(_Struct):
    result_id: str
    learner_id: str
    institution_id: str
    title: str
    credit: _Credit
    level: _Level
    subjects: list[_Share]
    grade: _Grade
    assessed_on: str
    course: _Course | None = None
    origin: str = "member"
    notional_hours: int | None = None


class _Batch(_Struct):
    results: list[msgspec.Raw]


_BATCH = msgspec.json.Decoder(_Batch)
_RESULT = msgspec.json.Decoder(_Result)


def decode_batch(body: bytes, limit: int) -> list[Any] | None:
    """The batch's items, each a ResultSubmission (fast path) or its parsed JSON (for
    the general reader); None when the body must take the general path whole."""
    try:
        raws = _BATCH.decode(body).results
    except msgspec.DecodeError:
        return None
    if not 1 <= len(raws) <= limit:
        return None
    items: list[Any] = []
    for raw in raws:
        sub = decode_result(raw)
        if sub is None:
            try:
                items.append(orjson.loads(memoryview(raw)))
            except orjson.JSONDecodeError:
                return None  # JSON orjson refuses (1e999): the whole body is malformed
        else:
            items.append(sub)
    return items


def decode_result(raw: bytes | msgspec.Raw) -> ResultSubmission | None:
    """One result (a single result's body, or a batch's item) on the fast path; None
    leaves it to the general reader."""
    try:
        return _submission(_RESULT.decode(raw))
    except msgspec.DecodeError:
        return None


def _number(value: str | int) -> Decimal | None:
    """`decimal_of` the value as orjson would have given it to the general reader: an
    integer it reads as a float is no number there."""
    if type(value) is int and not _INT_LOW <= value <= _INT_HIGH:
        return None
    return decimal_of(value)


# A results-day batch repeats the same few values (a course's credit and level, its
# subjects, a grade on its scale): each is built and checked once per process and then
# shared, as it may be (immutable values). Keyed by the values exactly as decoded (a
# str or an int: "15" and 15 are two keys, each giving what the general reader gives);
# a value that fails is not kept; each table is emptied when it reaches _KEEP.
_KEEP = 4096
_credits: dict[tuple[str | int, str], Credit] = {}
_levels: dict[tuple[str, int], Level] = {}
_courses: dict[tuple[str, str], CourseRef] = {}
_grades: dict[tuple[str, str], Grade] = {}
_subjects: dict[tuple[tuple[str, str | int], ...], tuple[SubjectShare, ...]] = {}


def _keep(table: dict, key: Any, value: Any) -> Any:
    if len(table) >= _KEEP:
        table.clear()
    table[key] = value
    return value


def _submission(r: _Result) -> ResultSubmission | None:
    """The ResultSubmission the general reader would read from `r`, or None to leave
    the item to it (it then names every problem). Written for speed: this runs for every
    result of a results-day batch."""
    if not (r.result_id.strip() and r.learner_id.strip() and r.institution_id.strip()
            and r.title.strip()):
        return None
    course, grade, shares = r.course, _grade(r.grade), _shares(r.subjects)
    if course is not None:
        course = _course(course)
        if course is None:
            return None
    origin, hours = ORIGINS.get(r.origin), r.notional_hours
    if origin is None or (hours is not None and not 0 < hours <= _INT_HIGH):
        return None
    credit, level, assessed_on = _credit(r.credit), _level(r.level), day_of(r.assessed_on)
    if grade is None or shares is None or credit is None or level is None \
            or assessed_on is None:
        return None
    return ResultSubmission(r.result_id, r.learner_id, r.institution_id, course, r.title,
                            credit, level, shares, grade, assessed_on, origin, hours)


def _course(c: _Course) -> CourseRef | None:
    key = (c.institution_id, c.code)
    course = _courses.get(key)
    if course is None:
        if not (c.institution_id.strip() and c.code.strip()):
            return None
        course = _keep(_courses, key, CourseRef(*key))
    return course


def _grade(g: _Grade) -> Grade | None:
    key = (g.scale, g.value)
    grade = _grades.get(key)
    if grade is None:
        if not (g.scale.strip() and g.value.strip()):
            return None
        grade = _keep(_grades, key, Grade(*key))
    return grade


def _shares(subjects: list[_Share]) -> tuple[SubjectShare, ...] | None:
    key = tuple((share.hecos, share.percent) for share in subjects)
    shares = _subjects.get(key)
    if shares is None:
        built = []
        for hecos, given in key:
            percent = _number(given)
            if percent is None or not hecos.strip():
                return None
            built.append(SubjectShare(hecos, percent))
        if not built:
            return None
        shares = _keep(_subjects, key, tuple(built))
    return shares


def _credit(c: _Credit) -> Credit | None:
    key = (c.value, c.scheme)
    credit = _credits.get(key)
    if credit is None:
        value = _number(c.value)
        if value is None:
            return None
        try:
            credit = Credit(value, SCHEMES.get(c.scheme, c.scheme))  # R-CR-3
        except InvalidCredit:
            return None
        credit = _keep(_credits, key, credit)
    return credit


def _level(lv: _Level) -> Level | None:
    key = (lv.framework, lv.value)
    level = _levels.get(key)
    if level is None:
        if not _INT_LOW <= lv.value <= _INT_HIGH:
            return None
        try:
            level = Level(FRAMEWORKS.get(lv.framework, lv.framework), lv.value)  # R-LV-1
        except LevelError:
            return None
        level = _keep(_levels, key, level)
    return level
