"""Credit values and conversion: R-CR-1 to R-CR-4."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.domain.credit import (
    DEFAULT_CONVERSION,
    ConversionMethod,
    ConversionPolicy,
    Credit,
    CreditScheme,
    InvalidCredit,
    display,
    to_ects,
    to_uk_credits,
)

D = Decimal
BY_HOURS = ConversionPolicy(method=ConversionMethod.HOURS)

positive_values = st.decimals(
    min_value=D("0.001"), max_value=D("10000"), places=3, allow_nan=False, allow_infinity=False
)
schemes = st.sampled_from(list(CreditScheme))


# --- Credit (R-CR-3) -------------------------------------------------------------


def test_value_is_kept_exactly_as_given():  # R-CR-3
    credit = Credit(D("7.50"), CreditScheme.ECTS)
    assert str(credit.value) == "7.50"
    assert credit.scheme is CreditScheme.ECTS


def test_scheme_names_are_the_wire_names():  # R-CR-3
    assert [s.value for s in CreditScheme] == ["CATS", "SCQF", "ECTS", "US-SCH"]
    assert Credit(D(3), "US-SCH").scheme is CreditScheme.US_SCH  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "reason_part"),
    [
        (D(0), "greater than 0"),
        (D("-1"), "greater than 0"),
        (D("NaN"), "finite"),
        (D("Infinity"), "finite"),
        (7.5, "Decimal"),
        (15, "Decimal"),
    ],
)
def test_invalid_values_are_refused_naming_the_field(value, reason_part):
    with pytest.raises(InvalidCredit) as caught:
        Credit(value, CreditScheme.CATS)
    assert caught.value.field == "value"
    assert reason_part in caught.value.reason
    assert isinstance(caught.value, ValueError)


def test_unknown_scheme_is_refused():
    with pytest.raises(InvalidCredit) as caught:
        Credit(D(10), "UNITS")  # type: ignore[arg-type]
    assert caught.value.field == "scheme"
    assert "US-SCH" in caught.value.reason


def test_of_reads_strings_and_ints_but_not_floats():
    assert Credit.of("7.50", "ECTS") == Credit(D("7.50"), CreditScheme.ECTS)
    assert str(Credit.of("7.50", "ECTS").value) == "7.50"
    assert Credit.of(15, CreditScheme.CATS).value == D(15)
    with pytest.raises(InvalidCredit):
        Credit.of(7.5, "ECTS")  # type: ignore[arg-type]
    with pytest.raises(InvalidCredit):
        Credit.of("seven", "ECTS")


def test_credit_is_immutable():
    credit = Credit(D(10), CreditScheme.CATS)
    with pytest.raises(AttributeError):
        credit.value = D(20)  # type: ignore[misc]


# --- conversion (R-CR-1, R-CR-2, R-CR-4) ------------------------------------------


def test_worked_example_6_ects_150_hours():  # R-CR-4 worked example
    micro = Credit(D(6), CreditScheme.ECTS)
    assert to_uk_credits(micro, notional_hours=D(150)) == D(12)  # default: ratio
    assert to_uk_credits(micro, notional_hours=D(150), policy=BY_HOURS) == D(15)


def test_uk_schemes_count_one_for_one():  # R-CR-2
    assert to_uk_credits(Credit(D(20), CreditScheme.CATS)) == D(20)
    assert to_uk_credits(Credit(D(20), CreditScheme.SCQF)) == D(20)
    # a UK credit is already in UK credits, whatever the method
    assert to_uk_credits(
        Credit(D(20), CreditScheme.SCQF), notional_hours=D(150), policy=BY_HOURS
    ) == D(20)


def test_two_uk_credits_make_one_ects():  # R-CR-2
    assert to_ects(Credit(D(15), CreditScheme.CATS)) == D("7.5")
    assert to_uk_credits(Credit(D("7.5"), CreditScheme.ECTS)) == D(15)


def test_us_semester_hours_default_and_override():  # R-CR-4
    sch = Credit(D(3), CreditScheme.US_SCH)
    assert to_ects(sch) == D(6)
    assert to_uk_credits(sch) == D(12)
    agreement = ConversionPolicy(ects_per_us_sch=D("1.5"))
    assert to_ects(sch, policy=agreement) == D("4.5")
    assert to_uk_credits(sch, policy=agreement) == D(9)


def test_hours_method_without_stated_hours_falls_back_to_ratio():  # R-CR-4
    assert to_uk_credits(Credit(D(6), CreditScheme.ECTS), policy=BY_HOURS) == D(12)
    assert to_ects(Credit(D(15), CreditScheme.CATS), policy=BY_HOURS) == D("7.5")


def test_hours_method_uses_the_policy_hours():  # R-CR-1, R-CR-2
    cats = Credit(D(15), CreditScheme.CATS)
    assert to_ects(cats, notional_hours=D(150), policy=BY_HOURS) == D(6)  # 150 / 25
    sch = Credit(D(3), CreditScheme.US_SCH)
    assert to_uk_credits(sch, notional_hours=D(135), policy=BY_HOURS) == D("13.5")
    thirty = ConversionPolicy(method="hours", hours_per_ects=D(30))  # type: ignore[arg-type]
    assert to_ects(cats, notional_hours=D(150), policy=thirty) == D(5)


def test_conversion_does_not_round():  # R-CR-3: only display rounds
    assert to_ects(Credit(D("0.125"), CreditScheme.CATS)) == D("0.0625")


def test_bad_notional_hours_are_refused_when_used():
    with pytest.raises(InvalidCredit) as caught:
        to_uk_credits(Credit(D(6), CreditScheme.ECTS), notional_hours=D(0), policy=BY_HOURS)
    assert caught.value.field == "notional_hours"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"method": "credits"}, "method"),
        ({"uk_per_ects": D(0)}, "uk_per_ects"),
        ({"hours_per_ects": 25.0}, "hours_per_ects"),
    ],
)
def test_invalid_policy_is_refused(kwargs, field):
    with pytest.raises(InvalidCredit) as caught:
        ConversionPolicy(**kwargs)
    assert caught.value.field == field


def test_default_policy_figures():  # R-CR-1, R-CR-2, R-CR-4
    assert DEFAULT_CONVERSION.method == "ratio"
    assert DEFAULT_CONVERSION.uk_per_ects == 2
    assert DEFAULT_CONVERSION.ects_per_us_sch == 2
    assert DEFAULT_CONVERSION.hours_per_uk_credit == 10
    assert DEFAULT_CONVERSION.hours_per_ects == 25


# --- display (R-CR-3) --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (D(12), "12"),
        (D("12.00"), "12"),
        (D("7.5"), "7.5"),
        (D("0.3"), "0.3"),
        (D("0.25"), "0.3"),
        (D("7.25"), "7.3"),
        (D("7.24"), "7.2"),
        (D("0.04"), "0"),
        (D("-0.04"), "0"),
        (D("-15"), "-15"),
        (D("1E+3"), "1000"),
        (D("33.333333"), "33.3"),
    ],
)
def test_display_shows_at_most_one_decimal_place(value, shown):
    assert display(value) == shown


def test_display_refuses_floats():
    with pytest.raises(TypeError):
        display(7.5)  # type: ignore[arg-type]


# --- properties ---------------------------------------------------------------------


def _places(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@given(value=positive_values, scheme=schemes)
def test_uk_total_displays_with_at_most_one_place(value, scheme):  # R-CR-3
    shown = display(to_uk_credits(Credit(value, scheme)))
    assert _places(shown) <= 1
    assert "E" not in shown


@given(value=positive_values, scheme=schemes, hours=st.none() | positive_values)
def test_conversion_never_changes_the_stored_credit(value, scheme, hours):  # R-CR-3
    credit = Credit(value, scheme)
    before = (str(credit.value), credit.scheme)
    to_uk_credits(credit, notional_hours=hours, policy=BY_HOURS)
    to_ects(credit, notional_hours=hours, policy=BY_HOURS)
    assert (str(credit.value), credit.scheme) == before


@given(value=positive_values, scheme=schemes)
def test_ratio_totals_agree_in_both_units(value, scheme):  # R-CR-2: totals shown in both
    credit = Credit(value, scheme)
    assert to_uk_credits(credit) == to_ects(credit) * DEFAULT_CONVERSION.uk_per_ects


@given(hours=positive_values)
def test_hours_conversion_is_hours_over_rate(hours):  # R-CR-1, R-CR-4
    ects = Credit(D(1), CreditScheme.ECTS)
    assert to_uk_credits(ects, notional_hours=hours, policy=BY_HOURS) * 10 == hours
