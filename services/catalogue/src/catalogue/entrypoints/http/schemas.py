"""Request and response bodies of the catalogue API (DESIGN §7)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, Field, StringConstraints, field_validator, model_validator

from shared.contracts.values import (
    COUNTRY,
    AwardingPowers,
    CourseCode,
    CourseRef,
    CreditValue,
    FrameworkName,
    LevelValue,
    SubjectShareValue,
    Wire,
)
from shared.domain.credit import MAX_NOTIONAL_HOURS

Text300 = Annotated[str, StringConstraints(min_length=1, max_length=300, strip_whitespace=True)]


class InstitutionIn(Wire):
    name: Text300
    country: str = Field(description="ISO 3166-1 alpha-2, optionally with a subdivision: GB-ENG")
    framework: FrameworkName
    awarding_powers: AwardingPowers

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        if not COUNTRY.match(value):
            raise ValueError("country must look like GB, GB-SCT or NL")
        return value


class InstitutionOut(BaseModel):
    institution_id: str
    name: str
    country: str
    framework: str
    awarding_powers: dict
    revision: int
    outcome: Literal["created", "updated", "unchanged"] | None = None


class CourseIn(Wire):
    """R-CAT-1 fields. Optional ones may be omitted; an EU micro-credential must carry
    the R-CAT-5 elements."""

    title: Text300
    credit: CreditValue
    level: LevelValue
    equivalent_levels: list[LevelValue] = Field(
        default=[], description="R-LV-3: the level stated in other frameworks, where the "
        "mapping is one-to-many")
    notional_hours: int | None = Field(None, gt=0, le=MAX_NOTIONAL_HOURS)
    subjects: list[SubjectShareValue] = Field(min_length=1, max_length=10)
    isced_f: Annotated[str, StringConstraints(pattern=r"^[0-9]{4}$")] | None = Field(
        None, description="ISCED-F 2013 detailed field, four digits, leading zero kept")
    learning_outcomes: list[Annotated[str, StringConstraints(min_length=1, max_length=2000)]] = \
        Field(default=[], max_length=50)
    assessment: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    participation: Literal["online", "on-site", "blended"] | None = None
    identity_verified: bool | None = None
    quality_assurance: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    language: Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")] \
        | None = None
    micro_credential: bool = False
    eu_micro_credential: bool = False
    workload_ects: Decimal | None = Field(None, gt=0, max_digits=6, decimal_places=2)
    units: list[CourseRef] = Field(default=[], max_length=20, description="R-CAT-4")
    effective_from: date

    @model_validator(mode="after")
    def _subjects_and_levels(self) -> CourseIn:
        total = sum((s.percent for s in self.subjects), Decimal(0))
        if total != 100:
            raise ValueError(f"subject percentages must add up to 100, not {total}")
        frameworks = [lv.framework for lv in self.equivalent_levels]
        if self.level.framework in frameworks or len(set(frameworks)) != len(frameworks):
            raise ValueError("equivalent_levels must name each other framework at most once")
        return self


class CourseOut(BaseModel):
    institution_id: str
    code: str
    version: int
    effective_from: date
    content_hash: str
    cah: list[str] = []
    outcome: Literal["created", "unchanged"] | None = None
    course: dict


class CoursePage(BaseModel):
    items: list[CourseOut]
    next_cursor: str | None


class EquivalenceIn(Wire):
    source: list[CourseRef] = Field(min_length=1, max_length=10)
    target_code: CourseCode
    effective_from: date
    effective_to: date | None = None


class EquivalenceOut(BaseModel):
    institution_id: str
    equivalence_id: str
    revision: int
    source: list[CourseRef]
    target_code: str
    effective_from: date
    effective_to: date | None
    outcome: Literal["created", "updated", "unchanged"] | None = None
