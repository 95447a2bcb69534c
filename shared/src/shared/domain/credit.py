"""Credit values and their conversion (R-CR-1 to R-CR-4).

A credit is stored exactly as the issuer gave it (value + scheme) and converted
only when it is counted, by the receiving side's policy. Decimal throughout:
a float never enters credit arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum


class CreditScheme(StrEnum):
    """R-CR-3: the schemes an issuer may state a credit value in."""

    CATS = "CATS"
    SCQF = "SCQF"
    ECTS = "ECTS"
    US_SCH = "US-SCH"


class ConversionMethod(StrEnum):
    """R-CR-4: the receiving side chooses; ratio is the default."""

    RATIO = "ratio"
    HOURS = "hours"


# R-CR-2: SCQF credit counts one for one with CATS; both are "UK credits".
UK_SCHEMES = frozenset({CreditScheme.CATS, CreditScheme.SCQF})
# The most notional hours a course or a result may state: 10,000 UK credits (R-CR-1), far
# above any qualification; a bound, so that a typo (or a 2**60) is refused, not stored.
MAX_NOTIONAL_HOURS = 100_000


class InvalidCredit(ValueError):
    """A credit value, scheme or conversion input that cannot be used.

    `field` names the offending input and `reason` says what is wrong, so an
    edge can report it (422) without parsing the message.
    """

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _require_positive_decimal(field: str, value: object) -> Decimal:
    # bool is an int, and float is exactly what R-CR-3 keeps out.
    if not isinstance(value, Decimal):
        raise InvalidCredit(field, f"must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise InvalidCredit(field, f"must be finite, got {value}")
    if value <= 0:
        raise InvalidCredit(field, f"must be greater than 0, got {value}")
    return value


@dataclass(frozen=True)
class Credit:
    """A credit value as issued (R-CR-3): never rounded, never rescaled.

    `Credit(Decimal("7.50"), CreditScheme.ECTS).value` stays `Decimal("7.50")`.
    """

    value: Decimal
    scheme: CreditScheme

    def __post_init__(self) -> None:
        _require_positive_decimal("value", self.value)
        if not isinstance(self.scheme, CreditScheme):
            try:
                scheme = CreditScheme(self.scheme)
            except ValueError:
                expected = ", ".join(s.value for s in CreditScheme)
                raise InvalidCredit(
                    "scheme", f"unknown credit scheme {self.scheme!r}; expected one of {expected}"
                ) from None
            object.__setattr__(self, "scheme", scheme)

    @classmethod
    def of(cls, value: Decimal | int | str, scheme: CreditScheme | str) -> Credit:
        """Build a credit from wire-ish input ("7.5", 15, Decimal); floats are refused."""
        if isinstance(value, (bool, float)):
            kind = type(value).__name__
            raise InvalidCredit("value", f"must be a Decimal, int or str, not {kind}")
        if isinstance(value, (int, str)):
            try:
                value = Decimal(value)
            except ArithmeticError:
                raise InvalidCredit("value", f"not a number: {value!r}") from None
        return cls(value, scheme)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ConversionPolicy:
    """How a receiving side converts credit (R-CR-4). Every figure is a default
    that a member or an agreement may override."""

    method: ConversionMethod = ConversionMethod.RATIO
    uk_per_ects: Decimal = Decimal(2)  # R-CR-2
    ects_per_us_sch: Decimal = Decimal(2)  # R-CR-4
    hours_per_uk_credit: Decimal = Decimal(10)  # R-CR-1
    hours_per_ects: Decimal = Decimal(25)  # R-CR-2: one ECTS is 25-30 hours

    def __post_init__(self) -> None:
        if not isinstance(self.method, ConversionMethod):
            try:
                object.__setattr__(self, "method", ConversionMethod(self.method))
            except ValueError:
                raise InvalidCredit(
                    "method", f"unknown conversion method {self.method!r}; expected ratio or hours"
                ) from None
        for name in ("uk_per_ects", "ects_per_us_sch", "hours_per_uk_credit", "hours_per_ects"):
            _require_positive_decimal(name, getattr(self, name))


DEFAULT_CONVERSION = ConversionPolicy()


def _hours_if_chosen(notional_hours: Decimal | None, policy: ConversionPolicy) -> Decimal | None:
    """The notional hours to convert by, or None to use the ratio.

    R-CR-4: hours are used only when the policy says so *and* the course
    states its hours; otherwise the ratio applies.
    """
    if notional_hours is None or policy.method is not ConversionMethod.HOURS:
        return None
    return _require_positive_decimal("notional_hours", notional_hours)


def to_uk_credits(
    credit: Credit,
    *,
    notional_hours: Decimal | None = None,
    policy: ConversionPolicy = DEFAULT_CONVERSION,
) -> Decimal:
    """The credit counted in UK credits (CATS = SCQF), unrounded.

    R-CR-4 worked example: 6 ECTS stating 150 hours is 12 by ratio, 15 by hours.
    A credit already in a UK scheme is counted as issued, whatever the method.
    """
    if credit.scheme in UK_SCHEMES:
        return credit.value  # R-CR-2: one for one
    hours = _hours_if_chosen(notional_hours, policy)
    if hours is not None:
        return hours / policy.hours_per_uk_credit  # R-CR-1
    if credit.scheme is CreditScheme.ECTS:
        return credit.value * policy.uk_per_ects  # R-CR-2
    return credit.value * policy.ects_per_us_sch * policy.uk_per_ects  # R-CR-4 (US-SCH)


def to_ects(
    credit: Credit,
    *,
    notional_hours: Decimal | None = None,
    policy: ConversionPolicy = DEFAULT_CONVERSION,
) -> Decimal:
    """The credit counted in ECTS, unrounded (R-CR-2: totals are shown in both).

    An ECTS credit is counted as issued, whatever the method.
    """
    if credit.scheme is CreditScheme.ECTS:
        return credit.value
    hours = _hours_if_chosen(notional_hours, policy)
    if hours is not None:
        return hours / policy.hours_per_ects
    if credit.scheme is CreditScheme.US_SCH:
        return credit.value * policy.ects_per_us_sch  # R-CR-4
    return credit.value / policy.uk_per_ects  # R-CR-2


_ONE_PLACE = Decimal("0.1")


def display(value: Decimal) -> str:
    """A credit figure for people: at most one decimal place (R-CR-3).

    "12", "7.5", "0.3"; halves round up (7.25 -> "7.3"). Only what is shown is
    rounded, never what is stored or summed.
    """
    if isinstance(value, bool) or not isinstance(value, (Decimal, int)):
        raise TypeError(f"display() takes a Decimal, not {type(value).__name__}")
    value = Decimal(value)
    if not value.is_finite():
        raise ValueError(f"cannot display {value}")
    shown = value.quantize(_ONE_PLACE, rounding=ROUND_HALF_UP)
    if shown == 0:
        return "0"  # not "-0"
    text = format(shown, "f")
    return text.removesuffix(".0")
