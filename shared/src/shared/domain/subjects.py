"""A course's subject: HECoS codes with percentages, CAH group derived (R-CAT-1).

The HECoS -> CAH table is HESA's (data/README.md says which version and from
where). It is read from the package on first use, never at import.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import cache
from importlib import resources

_HUNDRED = Decimal(100)
_HECOS_CODE = re.compile(r"[0-9]{6}")  # not str.isdigit(), which accepts non-ASCII digits


@dataclass(frozen=True)
class SubjectShare:
    """One HECoS code and the percentage of the course it covers (R-CAT-1)."""

    hecos: str
    percent: Decimal


@dataclass(frozen=True)
class CahGroup:
    """Where a HECoS code sits in HESA's Common Aggregation Hierarchy (three tiers)."""

    cah1: str
    cah1_label: str
    cah2: str
    cah2_label: str
    cah3: str
    cah3_label: str


class InvalidSubjects(ValueError):
    """A subject list that breaks R-CAT-1. `field` names the offending input
    (e.g. "subjects[1].percent"), `reason` says what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _Tables:
    hecos_labels: Mapping[str, str]
    hecos_cah3: Mapping[str, str]
    cah_labels: Mapping[str, str]


def _read_csv(name: str) -> list[dict[str, str]]:
    text = resources.files(__package__).joinpath("data", name).read_text(encoding="utf-8")
    lines = (line for line in text.splitlines() if not line.startswith("#"))
    return list(csv.DictReader(lines))


@cache
def _tables() -> _Tables:
    hecos = _read_csv("hecos_cah.csv")
    return _Tables(
        hecos_labels={row["hecos"]: row["hecos_label"] for row in hecos},
        hecos_cah3={row["hecos"]: row["cah3"] for row in hecos},
        cah_labels={row["cah"]: row["label"] for row in _read_csv("cah.csv")},
    )


def is_known_hecos(code: str) -> bool:
    """Is `code` in the packaged HECoS vocabulary?"""
    return code in _tables().hecos_labels


def hecos_label(code: str) -> str | None:
    """HESA's term for a HECoS code ("100366" -> "computer science"), or None if unknown."""
    return _tables().hecos_labels.get(code)


def cah_label(code: str) -> str | None:
    """The label of any CAH node ("CAH11", "CAH11-01" or "CAH11-01-01"), or None."""
    return _tables().cah_labels.get(code)


def cah_for(hecos: str) -> CahGroup | None:
    """R-CAT-1: the CAH group derived from a HECoS code, or None if the code is unknown.

    The CAH2 and CAH1 codes are the prefixes of the CAH3 code
    ("CAH11-01-01" -> "CAH11-01" -> "CAH11").
    """
    tables = _tables()
    cah3 = tables.hecos_cah3.get(hecos)
    if cah3 is None:
        return None
    cah2, cah1 = cah3[:8], cah3[:5]
    labels = tables.cah_labels
    return CahGroup(cah1, labels[cah1], cah2, labels[cah2], cah3, labels[cah3])


def validate_subjects(
    shares: Iterable[SubjectShare], *, require_known: bool = False
) -> tuple[SubjectShare, ...]:
    """R-CAT-1: at least one share, each a 6-digit HECoS code (once) with a Decimal
    percentage > 0, summing to exactly 100. Returns the shares as a tuple.

    `require_known` also refuses codes missing from the packaged vocabulary;
    off by default, so a code newer than the packaged table is not refused.
    """
    shares = tuple(shares)
    if not shares:
        raise InvalidSubjects("subjects", "at least one HECoS subject is required")
    seen: set[str] = set()
    total = Decimal(0)
    for index, share in enumerate(shares):
        where = f"subjects[{index}]"
        code, percent = share.hecos, share.percent
        if not isinstance(code, str) or not _HECOS_CODE.fullmatch(code):
            raise InvalidSubjects(f"{where}.hecos", f"a HECoS code is 6 digits, got {code!r}")
        if code in seen:
            raise InvalidSubjects(f"{where}.hecos", f"HECoS code {code} is listed twice")
        seen.add(code)
        if require_known and not is_known_hecos(code):
            raise InvalidSubjects(f"{where}.hecos", f"{code} is not a known HECoS code")
        if isinstance(percent, bool) or not isinstance(percent, Decimal):
            raise InvalidSubjects(
                f"{where}.percent", f"must be a Decimal, not {type(percent).__name__}"
            )
        if not percent.is_finite() or percent <= 0:
            raise InvalidSubjects(f"{where}.percent", f"must be greater than 0, got {percent}")
        total += percent
    if total != _HUNDRED:
        raise InvalidSubjects("subjects", f"percentages must sum to exactly 100, got {total}")
    return shares


def main_cah1(shares: Iterable[SubjectShare]) -> str | None:
    """The CAH1 group carrying the largest share of the course, e.g. "CAH11".

    Shares of unknown codes are left out; None if nothing is left. A tie goes
    to the lowest CAH1 code, so the answer is stable (HESA's own tie-break for
    a main subject is the first in code order).
    """
    totals: dict[str, Decimal] = {}
    for share in shares:
        group = cah_for(share.hecos)
        if group is not None:
            totals[group.cah1] = totals.get(group.cah1, Decimal(0)) + share.percent
    if not totals:
        return None
    return min(totals, key=lambda cah1: (-totals[cah1], cah1))
