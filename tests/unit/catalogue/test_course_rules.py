"""Catalogue rules without I/O: versions (R-CAT-2), EU micro-credentials (R-CAT-5),
equivalences (R-CAT-3), members (R-MB-1)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalogue.domain.course import (
    CourseVersion,
    check_course_rules,
    content_hash,
    next_version,
    version_in_force,
)
from catalogue.domain.equivalence import CourseKey, Equivalence, in_force, revise_equivalence
from catalogue.domain.errors import CatalogueRuleViolation
from catalogue.domain.eu_microcredential import check_eu_microcredential, missing_eu_elements
from catalogue.domain.institution import Institution, register_institution
from shared.domain.levels import Framework, Level
from shared.domain.subjects import SubjectShare

CS = [SubjectShare("100366", Decimal(100))]
CONTENT = {"title": "Data Science Foundations", "credit": {"value": "15", "scheme": "CATS"},
           "level": {"framework": "FHEQ", "value": 7}, "subjects": [{"hecos": "100366",
                                                                      "percent": "100"}]}


def version(n: int, starts: str) -> CourseVersion:
    return CourseVersion("uni-north", "DS701", n, date.fromisoformat(starts), {}, f"h{n}")


# R-CAT-2 ------------------------------------------------------------------------------

def test_first_publication_is_version_one_with_derived_cah() -> None:
    v = next_version(None, "uni-north", "DS701", date(2025, 9, 1), CONTENT, CS)
    assert v is not None and v.version == 1 and v.cah == ("CAH11-01-01",)


def test_republishing_unchanged_is_a_no_op() -> None:
    v1 = next_version(None, "uni-north", "DS701", date(2025, 9, 1), CONTENT, CS)
    reordered = dict(reversed(list(CONTENT.items())))  # key order does not matter
    assert next_version(v1, "uni-north", "DS701", date(2025, 9, 1), reordered, CS) is None


def test_a_changed_course_makes_the_next_version() -> None:
    v1 = next_version(None, "uni-north", "DS701", date(2025, 9, 1), CONTENT, CS)
    changed = {**CONTENT, "title": "Data Science Foundations II"}
    v2 = next_version(v1, "uni-north", "DS701", date(2026, 9, 1), changed, CS)
    assert v2 is not None and v2.version == 2 and v2.content_hash != v1.content_hash


def test_the_version_in_force_is_the_latest_started_one() -> None:
    versions = [version(1, "2024-09-01"), version(2, "2026-09-01"), version(3, "2025-09-01")]
    assert version_in_force(versions, date(2024, 8, 31)) is None
    assert version_in_force(versions, date(2025, 1, 1)).version == 1
    assert version_in_force(versions, date(2025, 9, 1)).version == 3
    assert version_in_force(versions, date(2026, 10, 1)).version == 2


def test_two_versions_starting_the_same_day_resolve_to_the_later() -> None:
    assert version_in_force([version(1, "2025-09-01"), version(2, "2025-09-01")],
                            date(2025, 9, 1)).version == 2


@given(st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5), max_size=6))
def test_content_hash_ignores_key_order(content: dict) -> None:
    assert content_hash(content) == content_hash(dict(reversed(list(content.items()))))


# R-CAT-1 / R-CAT-4 ------------------------------------------------------------------------

def test_subject_shares_must_add_up_to_100() -> None:
    with pytest.raises(CatalogueRuleViolation) as error:
        check_course_rules("uni-north", "DS701", [SubjectShare("100366", Decimal(60))], [])
    assert error.value.code == "invalid_subjects"


def test_a_composite_course_cannot_contain_itself() -> None:
    with pytest.raises(CatalogueRuleViolation) as error:
        check_course_rules("uni-north", "DS701", CS, [{"institution_id": "uni-north",
                                                        "code": "DS701"}])
    assert error.value.code == "unit_is_course_itself"


# R-CAT-5 ----------------------------------------------------------------------------------

EU_COMPLETE = {"title": "Applied ML", "credit": {"value": "6", "scheme": "ECTS"},
               "level": {"framework": "EQF", "value": 6}, "learning_outcomes": ["Train models"],
               "assessment": "project", "participation": "online",
               "quality_assurance": "NVAO", "eu_micro_credential": True}


def test_a_complete_eu_microcredential_passes() -> None:
    check_eu_microcredential(EU_COMPLETE, country="NL", awarding_body="Lowlands University")


def test_an_incomplete_eu_microcredential_lists_what_is_missing() -> None:
    content = {**EU_COMPLETE, "credit": {"value": "10", "scheme": "CATS"},
               "learning_outcomes": [], "participation": None}
    with pytest.raises(CatalogueRuleViolation) as error:
        check_eu_microcredential(content, country="NL", awarding_body="Lowlands University")
    assert error.value.code == "eu_microcredential_incomplete"
    assert error.value.details["missing"] == ["learning_outcomes", "workload_ects",
                                              "participation"]


def test_workload_in_ects_may_be_stated_beside_uk_credit() -> None:
    content = {**EU_COMPLETE, "credit": {"value": "10", "scheme": "CATS"}, "workload_ects": "5"}
    assert missing_eu_elements(content, country="GB-ENG", awarding_body="North") == []


def test_an_ambiguous_level_does_not_state_the_eqf_level() -> None:
    # FHEQ 5 -> EQF 5 is one-to-one; SCQF 9 -> FHEQ 6 -> EQF 6 too; but the check must not
    # guess where the mapping is one-to-many (R-LV-3).
    fheq7 = {**EU_COMPLETE, "level": {"framework": "FHEQ", "value": 7}}
    assert "eqf_level" not in missing_eu_elements(fheq7, country="GB", awarding_body="N")


def test_a_course_not_flagged_eu_is_not_checked() -> None:
    check_eu_microcredential({"title": "x"}, country=None, awarding_body=None)


# R-CAT-3 ------------------------------------------------------------------------------------

def eq(**changes) -> Equivalence:
    base = {"institution_id": "uni-north", "equivalence_id": "eq-1",
            "source": (CourseKey("uni-scot", "DS11A"),), "target_code": "DS701",
            "effective_from": date(2024, 1, 1), "effective_to": None}
    return Equivalence(**{**base, **changes})


def test_equivalence_revisions_grow_only_on_change() -> None:
    first = revise_equivalence(None, eq())
    assert first.revision == 1
    assert revise_equivalence(first, eq()) is None
    assert revise_equivalence(first, eq(effective_to=date(2027, 1, 1))).revision == 2


@pytest.mark.parametrize(("changes", "code"), [
    ({"source": ()}, "empty_source"),
    ({"source": (CourseKey("uni-north", "X1"),)}, "source_is_receiving_member"),
    ({"source": (CourseKey("uni-scot", "A"), CourseKey("uni-scot", "A"))}, "duplicate_source"),
    ({"effective_to": date(2023, 1, 1)}, "window_inverted"),
])
def test_invalid_equivalences_are_refused(changes: dict, code: str) -> None:
    with pytest.raises(CatalogueRuleViolation) as error:
        revise_equivalence(None, eq(**changes))
    assert error.value.code == code


def test_an_equivalence_is_in_force_inside_its_window_inclusive() -> None:
    e = eq(effective_to=date(2025, 12, 31))
    assert in_force(e, date(2024, 1, 1)) and in_force(e, date(2025, 12, 31))
    assert not in_force(e, date(2023, 12, 31)) and not in_force(e, date(2026, 1, 1))


# R-MB-1 -------------------------------------------------------------------------------------

def test_member_revisions_grow_only_on_change() -> None:
    north = Institution("uni-north", "University of the North", "GB-ENG", Framework.FHEQ,
                        Level(Framework.FHEQ, 8))
    first = register_institution(None, north)
    assert first.revision == 1
    assert register_institution(first, north) is None
    renamed = Institution("uni-north", "Northern University", "GB-ENG", Framework.FHEQ,
                          Level(Framework.FHEQ, 8))
    assert register_institution(first, renamed).revision == 2
