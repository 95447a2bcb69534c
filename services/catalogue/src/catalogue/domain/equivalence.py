"""Course equivalences, published by the receiving member (R-CAT-3): "our course Y is
equivalent to member A's course X (or to X1 + X2 together)", within a window."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date

from catalogue.domain.errors import CatalogueRuleViolation


@dataclass(frozen=True)
class CourseKey:
    institution_id: str
    code: str


@dataclass(frozen=True)
class Equivalence:
    institution_id: str  # the receiving member, who publishes it
    equivalence_id: str
    source: tuple[CourseKey, ...]  # all of these together ...
    target_code: str  # ... count as this course of the receiving member
    effective_from: date
    effective_to: date | None
    revision: int = 1

    def same_terms(self, other: Equivalence) -> bool:
        return replace(other, revision=self.revision) == self


def check_equivalence(eq: Equivalence) -> None:
    if not eq.source:
        raise CatalogueRuleViolation("empty_source", "An equivalence needs at least one source "
                                     "course", field="source")
    if len(set(eq.source)) != len(eq.source):
        raise CatalogueRuleViolation("duplicate_source", "A source course is listed twice",
                                     field="source")
    if any(s.institution_id == eq.institution_id for s in eq.source):
        # R-CAT-3 is between members: the receiving member maps *other* members' courses.
        raise CatalogueRuleViolation("source_is_receiving_member",
                                     "Source courses must belong to other members",
                                     field="source")
    if eq.effective_to is not None and eq.effective_to < eq.effective_from:
        raise CatalogueRuleViolation("window_inverted", "effective_to is before effective_from",
                                     field="effective_to")


def revise_equivalence(current: Equivalence | None, proposed: Equivalence) -> Equivalence | None:
    """The new revision, or None when the terms did not change."""
    check_equivalence(proposed)
    if current is None:
        return replace(proposed, revision=1)
    if current.same_terms(proposed):
        return None
    return replace(proposed, revision=current.revision + 1)


def in_force(eq: Equivalence, on: date) -> bool:
    return eq.effective_from <= on and (eq.effective_to is None or on <= eq.effective_to)
