"""Small builders for the ledger's pure tests: a valid result and its variations."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from ledger.domain.achievements import (
    AwardConferred,
    Corrected,
    LedgerEntry,
    Recorded,
    Revoked,
    achievement_id_for,
    fold,
)
from ledger.domain.results import CourseRef, Grade, Origin, ResultSubmission
from shared.domain.credit import Credit, CreditScheme
from shared.domain.errors import RuleViolation
from shared.domain.levels import Framework, Level
from shared.domain.subjects import SubjectShare

TODAY = date(2026, 7, 1)

# DESIGN §7, POST /ledger/v1/results
BODY: dict[str, Any] = {
    "result_id": "2026-000123", "learner_id": "L-0000001", "institution_id": "uni-north",
    "course": {"institution_id": "uni-north", "code": "DS701"},
    "title": "Data Science Foundations", "credit": {"value": "15", "scheme": "CATS"},
    "level": {"framework": "FHEQ", "value": 7}, "subjects": [{"hecos": "100366", "percent": 100}],
    "grade": {"scale": "UK-PERCENT", "value": "68"}, "assessed_on": "2026-06-20",
    "origin": "member",
}


def result(result_id: str = "2026-000123", *, institution: str = "uni-north",
           learner: str = "L-0000001", credit: str = "15", scheme: str = "CATS",
           level: tuple[str, int] = ("FHEQ", 7), **changes: Any) -> ResultSubmission:
    base = ResultSubmission(
        result_id=result_id, learner_id=learner, institution_id=institution,
        course=CourseRef(institution, f"C-{result_id}"), title="Data Science Foundations",
        credit=Credit(Decimal(credit), CreditScheme(scheme)),
        level=Level(Framework(level[0]), level[1]),
        subjects=(SubjectShare("100366", Decimal(100)),), grade=Grade("UK-PERCENT", "68"),
        assessed_on=date(2026, 6, 20), origin=Origin.MEMBER)
    return replace(base, **changes)


def recorded(seq: int, sub: ResultSubmission) -> Recorded:
    return Recorded(seq, achievement_id_for(sub.institution_id, sub.result_id), sub)


def corrected(seq: int, sub: ResultSubmission, **changes: Any) -> Corrected:
    aid = achievement_id_for(sub.institution_id, sub.result_id)
    return Corrected(seq, aid, sub.institution_id, replace(sub, **changes), "marking error")


def revoked(seq: int, sub: ResultSubmission, by: str | None = None) -> Revoked:
    aid = achievement_id_for(sub.institution_id, sub.result_id)
    return Revoked(seq, aid, by or sub.institution_id, "misconduct")


# A random but valid ledger: steps drawn blindly, kept only when the rules accept them.
KINDS = ("record", "record", "record", "correct", "correct", "revoke", "award")
ops = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 5), st.integers(1, 40)),
               min_size=4, max_size=30)
RESULT_LEVELS = (("FHEQ", 6), ("FHEQ", 7), ("SCQF", 10), ("SCQF", 11), ("EQF", 5), ("FHEQ", 3))


def valid_ledger(steps: list[tuple[str, int, int]]) -> list[LedgerEntry]:
    entries: list[LedgerEntry] = []
    states: dict = {}
    for kind, i, n in steps:
        seq = len(entries) + 1
        sub = result(f"r{i}", institution=("uni-north", "uni-scot")[i % 2], credit=str(n * 5),
                     scheme=("CATS", "ECTS", "SCQF")[n % 3], level=RESULT_LEVELS[i],
                     origin=(Origin.MEMBER, Origin.RPL)[n % 2])
        entry: LedgerEntry
        if kind == "record":
            entry = recorded(seq, sub)
        elif kind == "correct":
            entry = corrected(seq, sub, credit=Credit(Decimal(n), CreditScheme.CATS))
        elif kind == "revoke":
            entry = revoked(seq, sub)
        else:
            used = tuple(aid for aid, s in states.items() if s.counts and s.used_by_award is None)
            entry = AwardConferred(seq, f"W{seq}", "q", "uni-north", used[: 1 + n % 3])
        try:
            states = fold([entry], states)
        except RuleViolation:
            continue
        entries.append(entry)
    return entries
