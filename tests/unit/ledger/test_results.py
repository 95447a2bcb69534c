"""A submitted result: its checks (R-LG-1, R-LG-5), its JSON form and its R-LG-2
fingerprint."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.domain.result_json import parse_submission
from ledger.domain.results import (
    CourseRef,
    EuElements,
    Grade,
    Origin,
    check_submission,
    submission_fingerprint,
    submission_json,
)
from shared.domain.credit import Credit
from shared.domain.errors import RuleViolation
from shared.domain.subjects import SubjectShare
from tests.unit.ledger.builders import BODY, TODAY, result


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(RuleViolation) as caught:
        call(*args, **kwargs)
    return caught.value.code


# R-LG-1 -------------------------------------------------------------------------------

def test_the_design_body_is_a_valid_result() -> None:
    sub = parse_submission(BODY)
    check_submission(sub, today=TODAY)
    assert sub.credit == Credit(Decimal(15), "CATS") and str(sub.level) == "FHEQ:7"
    assert sub.grade == Grade("UK-PERCENT", "68") and sub.origin is Origin.MEMBER


def test_a_result_assessed_after_today_is_refused() -> None:
    sub = result(assessed_on=TODAY + timedelta(days=1))
    assert code_of(check_submission, sub, today=TODAY) == "assessed_in_future"
    check_submission(result(assessed_on=TODAY), today=TODAY)  # today itself is fine


def test_a_member_records_results_only_for_its_own_courses() -> None:
    sub = result(course=CourseRef("uni-scot", "DS11A"))
    assert code_of(check_submission, sub, today=TODAY) == "course_of_another_member"


def test_a_member_result_names_its_course() -> None:
    assert code_of(check_submission, result(course=None), today=TODAY) == "course_required"


def test_rpl_may_leave_out_the_course_but_not_name_another_members() -> None:  # R-LG-5
    check_submission(result(origin=Origin.RPL, course=None), today=TODAY)
    check_submission(result(origin=Origin.RPL), today=TODAY)
    sub = result(origin=Origin.RPL, course=CourseRef("uni-scot", "DS11A"))
    assert code_of(check_submission, sub, today=TODAY) == "course_of_another_member"


@pytest.mark.parametrize(("changes", "code"), [
    ({"title": " "}, "field_required"),
    ({"result_id": ""}, "field_required"),
    ({"notional_hours": 0}, "invalid_notional_hours"),
    ({"grade": Grade("UK-PERCENT", "")}, "grade_incomplete"),
    ({"subjects": (SubjectShare("100366", Decimal(60)),)}, "invalid_subjects"),
])
def test_broken_fields_are_named(changes, code) -> None:
    assert code_of(check_submission, result(**changes), today=TODAY) == code


# the JSON form ------------------------------------------------------------------------

def test_the_json_form_keeps_values_as_given() -> None:  # R-CR-3
    sub = result(credit="7.50", scheme="ECTS", notional_hours=190,
                 eu=EuElements(country="DE", learning_outcomes=("model data",)))
    body = submission_json(sub)
    assert body["credit"] == {"value": "7.50", "scheme": "ECTS"}
    assert body["notional_hours"] == 190
    assert body["eu"] == {"country": "DE", "learning_outcomes": ["model data"]}
    assert parse_submission(body) == sub


def test_parse_names_every_bad_field() -> None:
    bad = {**BODY, "credit": {"value": "-5", "scheme": "QCF"}, "level": {"framework": "FHEQ",
           "value": 9}, "assessed_on": "20/06/2026", "colour": "red"}
    del bad["title"]
    with pytest.raises(RuleViolation) as caught:
        parse_submission(bad)
    fields = {e["field"] for e in caught.value.details["errors"]}
    assert caught.value.code == "validation_failed"
    assert fields == {"title", "colour", "credit.value", "level.value", "assessed_on"}


@pytest.mark.parametrize(("field", "value", "named"), [
    ("credit", {"value": 15.0, "scheme": "CATS"}, "credit.value"),  # R-CR-3: no floats
    ("credit", {"value": "15", "scheme": "QCF"}, "credit.scheme"),
    ("level", {"framework": "NQF", "value": 7}, "level.framework"),
    ("subjects", [], "subjects"),
    ("origin", "transfer", "origin"),
    ("notional_hours", -3, "notional_hours"),
])
def test_parse_refuses(field, value, named) -> None:
    with pytest.raises(RuleViolation) as caught:
        parse_submission({**BODY, field: value})
    assert [e["field"] for e in caught.value.details["errors"]] == [named]


texts = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1,
                max_size=12).filter(str.strip)
amounts = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(1000), places=3)


@given(title=texts, grade=texts, value=amounts, hours=st.none() | st.integers(1, 5000),
       days=st.integers(0, 5000), origin=st.sampled_from(Origin))
def test_json_form_round_trips(title, grade, value, hours, days, origin) -> None:
    sub = result(title=title, grade=Grade("ANY", grade), credit=str(value), notional_hours=hours,
                 assessed_on=date(2010, 1, 1) + timedelta(days=days), origin=origin)
    assert parse_submission(submission_json(sub)) == sub


# R-LG-2: the fingerprint --------------------------------------------------------------

def test_the_same_result_has_the_same_fingerprint_however_it_is_written() -> None:
    first = parse_submission(BODY)
    again = copy.deepcopy(BODY)
    again = dict(reversed(list(again.items())))  # key order does not matter
    again["credit"] = {"scheme": "CATS", "value": "15.00"}  # nor trailing zeros
    again["subjects"] = [{"hecos": "100366", "percent": "100.0"}]
    assert submission_fingerprint(parse_submission(again)) == submission_fingerprint(first)


def test_subject_order_does_not_matter() -> None:
    a, b = SubjectShare("100366", Decimal(40)), SubjectShare("100367", Decimal(60))
    assert (submission_fingerprint(result(subjects=(a, b)))
            == submission_fingerprint(result(subjects=(b, a))))


@pytest.mark.parametrize("changes", [
    {"grade": Grade("UK-PERCENT", "68.0")},  # a grade is kept as given: not a number
    {"credit": Credit(Decimal(20), "CATS")},
    {"learner_id": "L-0000002"},
    {"assessed_on": date(2026, 6, 21)},
    {"eu": EuElements(awarding_body="University of the North")},
])
def test_any_other_difference_changes_the_fingerprint(changes) -> None:
    assert submission_fingerprint(replace(result(), **changes)) != submission_fingerprint(result())


def test_the_fingerprint_is_tagged_sha256() -> None:
    fingerprint = submission_fingerprint(result())
    assert fingerprint.startswith("sha256:") and len(fingerprint) == 7 + 64


def test_numbers_are_compared_exactly_not_to_28_digits() -> None:
    near = "1.0000000000000000000000000001"  # 29 significant digits
    assert submission_fingerprint(result(credit=near)) != submission_fingerprint(result(credit="1"))
    assert (submission_fingerprint(result(credit="1E+1"))
            == submission_fingerprint(result(credit="10.000")))
