"""Levels and the mapping table: R-LV-1 to R-LV-3."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.levels import (
    FRAMEWORK_RANGES,
    Framework,
    Level,
    LevelAmbiguous,
    LevelError,
    LevelOutOfRange,
    LevelUnmapped,
    convert,
    equivalents,
    is_at_or_above,
    parse_level,
    same_band,
    validate_level,
)

FHEQ, SCQF, EQF = Framework.FHEQ, Framework.SCQF, Framework.EQF


def L(framework: Framework, value: int) -> Level:
    return Level(framework, value)


ALL_LEVELS = [
    Level(framework, value)
    for framework, (low, high) in FRAMEWORK_RANGES.items()
    for value in range(low, high + 1)
]
levels = st.sampled_from(ALL_LEVELS)
frameworks = st.sampled_from(list(Framework))


# --- R-LV-1 ---------------------------------------------------------------------------


def test_framework_ranges():  # R-LV-1
    assert FRAMEWORK_RANGES == {FHEQ: (3, 8), SCQF: (7, 12), EQF: (1, 8)}


@pytest.mark.parametrize(("framework", "value"), [(FHEQ, 2), (FHEQ, 9), (SCQF, 6), (EQF, 0)])
def test_level_outside_its_framework_is_refused(framework, value):  # R-LV-1
    with pytest.raises(LevelOutOfRange, match=str(value)):
        validate_level(Level(framework, value))


def test_validate_level_returns_a_valid_level():
    assert validate_level(L(SCQF, 12)) == L(SCQF, 12)


def test_level_reads_framework_names_and_refuses_other_values():
    assert Level("EQF", 5).framework is EQF  # type: ignore[arg-type]
    with pytest.raises(LevelError):
        Level("NQF", 5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Level(FHEQ, "7")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Level(FHEQ, True)  # type: ignore[arg-type]


def test_levels_are_not_ordered_by_operators():
    with pytest.raises(TypeError):
        L(FHEQ, 6) < L(FHEQ, 7)  # type: ignore[operator]  # noqa: B015


# --- R-LV-2: the table -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fheq", "scqf", "eqf"),
    [(4, {7}, {5}), (5, {8}, {5}), (6, {9, 10}, {6}), (7, {11}, {7}), (8, {12}, {8})],
)
def test_the_mapping_table(fheq, scqf, eqf):  # R-LV-2
    assert equivalents(L(FHEQ, fheq), SCQF) == {L(SCQF, v) for v in scqf}
    assert equivalents(L(FHEQ, fheq), EQF) == {L(EQF, v) for v in eqf}


@pytest.mark.parametrize(("scqf", "eqf"), [(7, 5), (8, 5), (9, 6), (10, 6), (11, 7), (12, 8)])
def test_scqf_to_eqf_is_derived_through_fheq(scqf, eqf):  # R-LV-2
    assert equivalents(L(SCQF, scqf), EQF) == {L(EQF, eqf)}


def test_eqf_5_and_6_reach_two_scqf_levels():  # R-LV-2, R-LV-3
    assert equivalents(L(EQF, 5), SCQF) == {L(SCQF, 7), L(SCQF, 8)}
    assert equivalents(L(EQF, 6), SCQF) == {L(SCQF, 9), L(SCQF, 10)}


@pytest.mark.parametrize(
    ("level", "target"),
    [(L(FHEQ, 3), EQF), (L(FHEQ, 3), SCQF), (L(EQF, 4), FHEQ), (L(EQF, 1), SCQF)],
)
def test_levels_outside_the_table_have_no_equivalent(level, target):
    assert equivalents(level, target) == frozenset()
    with pytest.raises(LevelUnmapped):
        convert(level, target)


def test_a_level_is_its_own_equivalent_in_its_framework():
    assert equivalents(L(SCQF, 9), SCQF) == {L(SCQF, 9)}
    assert convert(L(EQF, 5), EQF) == L(EQF, 5)


# --- convert, R-LV-3 ----------------------------------------------------------------------


def test_one_to_one_conversions():
    assert convert(L(FHEQ, 7), SCQF) == L(SCQF, 11)
    assert convert(L(SCQF, 10), FHEQ) == L(FHEQ, 6)
    assert convert(L(FHEQ, 4), EQF) == L(EQF, 5)
    assert convert(L(SCQF, 12), EQF) == L(EQF, 8)
    assert convert(L(FHEQ, 7), "EQF") == L(EQF, 7)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("level", "target", "candidates"),
    [
        (L(EQF, 5), FHEQ, {L(FHEQ, 4), L(FHEQ, 5)}),
        (L(FHEQ, 6), SCQF, {L(SCQF, 9), L(SCQF, 10)}),
        (L(EQF, 6), SCQF, {L(SCQF, 9), L(SCQF, 10)}),
    ],
)
def test_one_to_many_is_never_guessed(level, target, candidates):  # R-LV-3
    with pytest.raises(LevelAmbiguous) as caught:
        convert(level, target)
    assert caught.value.candidates == candidates
    assert caught.value.reason == "level_ambiguous"  # R-TR-3 reason code


# --- is_at_or_above, same_band ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "threshold", "expected"),
    [
        (L(FHEQ, 7), L(FHEQ, 6), True),
        (L(FHEQ, 6), L(FHEQ, 6), True),
        (L(FHEQ, 5), L(FHEQ, 6), False),
        (L(SCQF, 11), L(FHEQ, 7), True),
        (L(SCQF, 10), L(FHEQ, 7), False),
        (L(EQF, 8), L(FHEQ, 7), True),
        (L(EQF, 5), L(FHEQ, 4), True),  # either candidate (4 or 5) is at or above 4
        (L(EQF, 5), L(FHEQ, 5), None),  # R-LV-3: 4 or 5, straddles the threshold
        (L(EQF, 5), L(FHEQ, 6), False),
        (L(FHEQ, 6), L(SCQF, 10), None),  # R-LV-3: SCQF 9 or 10
        (L(FHEQ, 6), L(SCQF, 9), True),
        (L(FHEQ, 5), L(EQF, 5), True),
        (L(FHEQ, 3), L(EQF, 5), False),  # FHEQ 3 is unmapped, EQF 5 is FHEQ 4 or 5
        (L(FHEQ, 3), L(SCQF, 11), False),
        (L(EQF, 4), L(FHEQ, 6), False),
        (L(EQF, 3), L(FHEQ, 3), None),  # neither side mapped
        (L(FHEQ, 8), L(EQF, 1), True),  # EQF 1 is unmapped, but FHEQ 8 is EQF 8
    ],
)
def test_is_at_or_above(level, threshold, expected):  # R-AW-2 via R-LV-2
    assert is_at_or_above(level, threshold) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (L(FHEQ, 7), L(SCQF, 11), True),
        (L(SCQF, 11), L(EQF, 7), True),
        (L(FHEQ, 7), L(EQF, 7), True),
        (L(FHEQ, 6), L(SCQF, 9), True),
        (L(FHEQ, 6), L(SCQF, 10), True),
        (L(SCQF, 9), L(SCQF, 10), False),
        (L(FHEQ, 4), L(EQF, 5), True),
        (L(FHEQ, 4), L(FHEQ, 5), False),
        (L(FHEQ, 7), L(SCQF, 10), False),
        (L(FHEQ, 3), L(EQF, 4), False),
        (L(EQF, 2), L(EQF, 2), True),
    ],
)
def test_same_band(a, b, expected):
    assert same_band(a, b) is expected


# --- parse_level ----------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["FHEQ:7", "FHEQ-7", "FHEQ 7", "fheq7", " Fheq : 7 "])
def test_parse_level_forms(text):
    assert parse_level(text) == L(FHEQ, 7)


@pytest.mark.parametrize("text", ["", "FHEQ", "7", "FHEQ:seven", "FHEQ:7.5", "FHEQ::7"])
def test_parse_level_says_what_it_expected(text):
    with pytest.raises(ValueError, match="expected FRAMEWORK:N"):
        parse_level(text)


def test_parse_level_unknown_framework():
    with pytest.raises(ValueError, match="unknown framework 'NQF'"):
        parse_level("NQF:7")


def test_parse_level_out_of_range():  # R-LV-1
    with pytest.raises(LevelOutOfRange):
        parse_level("SCQF:6")


# --- properties -------------------------------------------------------------------------------


@given(level=levels)
def test_str_round_trips_through_parse_level(level):
    assert parse_level(str(level)) == level


@given(a=levels, b=levels)
def test_equivalence_is_symmetric(a, b):  # R-LV-2: one table, read both ways
    assert (b in equivalents(a, b.framework)) == (a in equivalents(b, a.framework))
    assert same_band(a, b) == same_band(b, a)


@given(level=levels, target=frameworks)
def test_convert_round_trips_where_one_to_one(level, target):
    try:
        there = convert(level, target)
        back = convert(there, level.framework)
    except (LevelAmbiguous, LevelUnmapped):
        return
    assert back == level


@given(level=levels, target=frameworks)
def test_convert_agrees_with_equivalents(level, target):
    found = equivalents(level, target)
    assert all(c.framework is target for c in found)
    if len(found) == 1:
        assert convert(level, target) in found
    else:
        with pytest.raises(LevelAmbiguous if found else LevelUnmapped):
            convert(level, target)


@given(level=levels)
def test_a_level_is_at_or_above_itself_and_its_equivalents(level):
    assert is_at_or_above(level, level) is True
    for framework in Framework:
        found = equivalents(level, framework)
        if len(found) == 1:
            (other,) = found
            assert is_at_or_above(level, other) is not False
            assert is_at_or_above(other, level) is not False


@given(a=levels, b=levels)
def test_definite_comparisons_are_consistent(a, b):
    up, down = is_at_or_above(a, b), is_at_or_above(b, a)
    # never both strictly below the other
    assert not (up is False and down is False)
