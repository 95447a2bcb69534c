"""Value types that appear in API bodies and event payloads (pydantic, for the wire).
The pure rules that interpret them live in shared.domain (stdlib only)."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Identifier = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$", strip_whitespace=False)
]
CourseCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")]

CreditSchemeName = Literal["CATS", "SCQF", "ECTS", "US-SCH"]
FrameworkName = Literal["FHEQ", "SCQF", "EQF"]
_RANGES = {"FHEQ": (3, 8), "SCQF": (7, 12), "EQF": (1, 8)}  # R-LV-1


class Wire(BaseModel):
    """Strict wire model: unknown fields are an error, so a typo is reported, not dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class CreditValue(Wire):
    # R-CR-3: kept exactly as given (a string on the wire, Decimal in memory).
    value: Decimal = Field(gt=0, max_digits=9, decimal_places=3, allow_inf_nan=False)
    scheme: CreditSchemeName


class LevelValue(Wire):
    framework: FrameworkName
    value: int

    @field_validator("value")
    @classmethod
    def _in_framework(cls, value: int, info) -> int:  # R-LV-1
        framework = info.data.get("framework")
        if framework in _RANGES:
            low, high = _RANGES[framework]
            if not low <= value <= high:
                raise ValueError(f"level {value} is outside {framework} {low}-{high}")
        return value


class SubjectShareValue(Wire):
    hecos: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
    percent: Decimal = Field(gt=0, le=100, allow_inf_nan=False)


class CourseRef(Wire):
    institution_id: Identifier
    code: CourseCode


class AwardingPowers(Wire):
    framework: FrameworkName
    max_level: int

    @field_validator("max_level")
    @classmethod
    def _in_framework(cls, value: int, info) -> int:
        framework = info.data.get("framework")
        if framework in _RANGES:
            low, high = _RANGES[framework]
            if not low <= value <= high:
                raise ValueError(f"max_level {value} is outside {framework} {low}-{high}")
        return value


COUNTRY = re.compile(r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$")  # ISO 3166-1 alpha-2, or a -2 subdivision
