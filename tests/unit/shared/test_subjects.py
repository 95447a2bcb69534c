"""Subjects: HECoS codes with percentages, CAH group derived (R-CAT-1)."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain import subjects
from shared.domain.subjects import (
    CahGroup,
    InvalidSubjects,
    SubjectShare,
    cah_for,
    cah_label,
    hecos_label,
    is_known_hecos,
    main_cah1,
    validate_subjects,
)

D = Decimal


def share(code: str, percent: str) -> SubjectShare:
    return SubjectShare(code, D(percent))


# --- the packaged HESA table -------------------------------------------------------------------


def test_table_is_the_whole_hecos_vocabulary():
    tables = subjects._tables()
    assert len(tables.hecos_labels) == 1092  # HECoS as published by HESA
    assert all(re.fullmatch(r"[0-9]{6}", code) for code in tables.hecos_labels)
    assert all(
        re.fullmatch(r"CAH[0-9]{2}-[0-9]{2}-[0-9]{2}", c) for c in tables.hecos_cah3.values()
    )


def test_every_cah3_has_its_parents_labelled():
    tables = subjects._tables()
    for code in set(tables.hecos_cah3.values()):
        assert cah_label(code) and cah_label(code[:8]) and cah_label(code[:5]), code


def test_computer_science():  # R-CAT-1: the CAH group is derived
    assert hecos_label("100366") == "computer science"
    assert cah_for("100366") == CahGroup(
        cah1="CAH11",
        cah1_label="computing",
        cah2="CAH11-01",
        cah2_label="computing",
        cah3="CAH11-01-01",
        cah3_label="computer science",
    )


@pytest.mark.parametrize(
    ("code", "cah3", "cah1"),
    [
        ("100403", "CAH09-01-01", "CAH09"),  # mathematics
        ("100485", "CAH16-01-01", "CAH16"),  # law
        ("100290", "CAH02-04-01", "CAH02"),  # nursing
        ("100992", "CAH11-01-05", "CAH11"),  # machine learning
        ("101511", "CAH02-06-03", "CAH02"),  # ophthalmic dispensing (last code)
        ("100003", "CAH25-01-03", "CAH25"),  # ceramics (first code)
    ],
)
def test_known_mappings(code, cah3, cah1):
    group = cah_for(code)
    assert group is not None
    assert (group.cah3, group.cah1) == (cah3, cah1)


def test_labels_keep_hesa_text():
    assert hecos_label("101473") == "Brontës studies"
    assert cah_label("CAH20") == "historical, philosophical and religious studies"


def test_unknown_codes():
    assert cah_for("999999") is None
    assert hecos_label("999999") is None
    assert not is_known_hecos("999999")
    assert is_known_hecos("100366")
    assert cah_label("CAH99") is None


# --- validate_subjects ----------------------------------------------------------------------------


def test_valid_subjects_are_returned():
    shares = [share("100366", "50"), share("100403", "50")]
    assert validate_subjects(shares) == tuple(shares)
    assert validate_subjects(iter([share("100366", "100.00")])) == (share("100366", "100.00"),)


def test_percentages_may_have_decimals_if_they_sum_exactly():
    assert validate_subjects(
        [share("100366", "33.3"), share("100403", "33.3"), share("100485", "33.4")]
    )


@pytest.mark.parametrize(
    ("shares", "field", "reason_part"),
    [
        ([], "subjects", "at least one"),
        ([share("10036", "100")], "subjects[0].hecos", "6 digits"),
        ([share("1003666", "100")], "subjects[0].hecos", "6 digits"),
        ([share("10036a", "100")], "subjects[0].hecos", "6 digits"),
        ([share("١٠٠٣٦٦", "100")], "subjects[0].hecos", "6 digits"),  # non-ASCII digits
        (
            [share("100366", "50"), share("100366", "50")],
            "subjects[1].hecos",
            "listed twice",
        ),
        ([share("100366", "0"), share("100403", "100")], "subjects[0].percent", "greater than 0"),
        ([share("100366", "-10"), share("100403", "110")], "subjects[0].percent", "greater than 0"),
        ([share("100366", "NaN")], "subjects[0].percent", "greater than 0"),
        ([SubjectShare("100366", 100.0)], "subjects[0].percent", "Decimal"),  # type: ignore[arg-type]
        ([share("100366", "60"), share("100403", "30")], "subjects", "exactly 100, got 90"),
        ([share("100366", "99.99")], "subjects", "exactly 100"),
    ],
)
def test_invalid_subjects(shares, field, reason_part):  # R-CAT-1
    with pytest.raises(InvalidSubjects) as caught:
        validate_subjects(shares)
    assert caught.value.field == field
    assert reason_part in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_require_known_refuses_codes_missing_from_the_table():
    assert validate_subjects([share("999999", "100")])  # off by default
    with pytest.raises(InvalidSubjects, match="not a known HECoS code"):
        validate_subjects([share("999999", "100")], require_known=True)


# --- main_cah1 ------------------------------------------------------------------------------------


def test_main_cah1_is_the_group_with_the_largest_share():
    # software engineering 40 + computer science 20 (computing) beat mathematics 40
    shares = [share("100374", "40"), share("100366", "20"), share("100403", "40")]
    assert main_cah1(shares) == "CAH11"


def test_main_cah1_tie_goes_to_the_lowest_code():
    assert main_cah1([share("100366", "50"), share("100403", "50")]) == "CAH09"


def test_main_cah1_ignores_unknown_codes():
    assert main_cah1([share("999999", "90"), share("100485", "10")]) == "CAH16"
    assert main_cah1([share("999999", "100")]) is None
    assert main_cah1([]) is None


# --- properties -----------------------------------------------------------------------------------

known_codes = st.sampled_from(sorted(subjects._tables().hecos_labels))


@given(code=known_codes)
def test_cah_group_is_a_consistent_hierarchy(code):
    group = cah_for(code)
    assert group is not None
    assert group.cah3.startswith(group.cah2 + "-")
    assert group.cah2.startswith(group.cah1 + "-")
    assert group.cah3_label == cah_label(group.cah3)


@given(
    codes=st.lists(known_codes, min_size=1, max_size=6, unique=True),
    data=st.data(),
)
def test_any_split_summing_to_100_is_valid_and_has_a_main_group(codes, data):
    cuts = sorted(
        data.draw(
            st.lists(
                st.integers(min_value=1, max_value=999),
                min_size=len(codes) - 1,
                max_size=len(codes) - 1,
                unique=True,
            )
        )
    )
    bounds = [0, *cuts, 1000]
    shares = [
        SubjectShare(code, D(high - low) / 10)
        for code, low, high in zip(codes, bounds, bounds[1:], strict=False)
    ]
    assert validate_subjects(shares) == tuple(shares)
    main = main_cah1(shares)
    assert main in {cah_for(code).cah1 for code in codes}  # type: ignore[union-attr]
