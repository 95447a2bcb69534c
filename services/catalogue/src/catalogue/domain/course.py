"""Courses and their versions (R-CAT-1, R-CAT-2, R-CAT-4)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from catalogue.domain.errors import CatalogueRuleViolation
from shared.domain.subjects import SubjectShare, cah_for, validate_subjects


@dataclass(frozen=True)
class CourseVersion:
    institution_id: str
    code: str
    version: int
    effective_from: date
    content: Mapping[str, Any]  # the published fields, as given (JSON-safe)
    content_hash: str
    cah: tuple[str, ...] = ()  # derived from the subjects (R-CAT-1)


def content_hash(content: Mapping[str, Any]) -> str:
    """Stable hash of what was published: key order and whitespace do not matter."""
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def check_course_rules(institution_id: str, code: str, subjects: Iterable[SubjectShare],
                       units: Iterable[Mapping[str, str]]) -> None:
    """R-CAT-1 subjects (shares sum to 100) and R-CAT-4 units (no unit is the course itself)."""
    try:
        validate_subjects(list(subjects))
    except ValueError as error:
        raise CatalogueRuleViolation("invalid_subjects", str(error), field="subjects") from error
    seen: set[tuple[str, str]] = set()
    for unit in units:
        ref = (unit["institution_id"], unit["code"])
        if ref == (institution_id, code):
            raise CatalogueRuleViolation("unit_is_course_itself",
                                         "A composite course cannot list itself as a unit",
                                         field="units")
        if ref in seen:
            raise CatalogueRuleViolation("duplicate_unit", f"Unit {ref[0]}/{ref[1]} is listed twice",
                                         field="units")
        seen.add(ref)


def derive_cah(subjects: Iterable[SubjectShare]) -> list[str]:
    """R-CAT-1: the CAH groups (CAH3 codes) derived from the HECoS codes, where known."""
    groups = [cah_for(s.hecos) for s in subjects]
    return sorted({g.cah3 for g in groups if g is not None})


def next_version(latest: CourseVersion | None, institution_id: str, code: str,
                 effective_from: date, content: Mapping[str, Any],
                 subjects: Iterable[SubjectShare]) -> CourseVersion | None:
    """R-CAT-2: publishing a changed course makes a new version; publishing it unchanged
    is a no-op (None)."""
    digest = content_hash(content)
    if latest is not None and latest.content_hash == digest:
        return None
    return CourseVersion(institution_id, code, (latest.version + 1) if latest else 1,
                         effective_from, content, digest, tuple(derive_cah(subjects)))


def version_in_force(versions: Iterable[CourseVersion], at: date) -> CourseVersion | None:
    """R-CAT-2: the version in force on a date: the latest-starting one that has started;
    of two that start the same day, the later version."""
    started = [v for v in versions if v.effective_from <= at]
    return max(started, key=lambda v: (v.effective_from, v.version), default=None)
