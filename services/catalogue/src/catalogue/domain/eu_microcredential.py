"""R-CAT-5: the mandatory elements of the 2022 EU Council Recommendation on
micro-credentials. A course flagged as an EU micro-credential must carry every element
a course can carry; the learner and the date of issue belong to each achievement
(R-LG-1), not to the course."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from catalogue.domain.errors import CatalogueRuleViolation
from shared.domain.levels import Framework, Level, equivalents

# element name in the Recommendation -> how a course shows it
COURSE_ELEMENTS = (
    "title", "country", "awarding_body", "learning_outcomes", "workload_ects", "eqf_level",
    "assessment", "participation", "quality_assurance",
)


def missing_eu_elements(content: Mapping[str, Any], *, country: str | None,
                        awarding_body: str | None) -> list[str]:
    present = {
        "title": bool(content.get("title")),
        "country": bool(country),
        "awarding_body": bool(awarding_body),
        "learning_outcomes": any(str(o).strip() for o in content.get("learning_outcomes") or ()),
        "workload_ects": _states_ects(content),
        "eqf_level": _states_eqf(content),
        "assessment": bool(content.get("assessment")),
        "participation": bool(content.get("participation")),
        "quality_assurance": bool(content.get("quality_assurance")),
    }
    return [element for element in COURSE_ELEMENTS if not present[element]]


def _states_ects(content: Mapping[str, Any]) -> bool:
    credit = content.get("credit") or {}
    return credit.get("scheme") == "ECTS" or content.get("workload_ects") is not None


def _states_eqf(content: Mapping[str, Any]) -> bool:
    levels = [content.get("level") or {}, *(content.get("equivalent_levels") or ())]
    if any(level.get("framework") == "EQF" for level in levels):
        return True
    # A level that maps to exactly one EQF level states it (R-LV-2); a one-to-many one
    # does not (R-LV-3: nothing is guessed).
    level = content.get("level") or {}
    if level.get("framework") in ("FHEQ", "SCQF"):
        return len(equivalents(Level(Framework(level["framework"]), int(level["value"])),
                               Framework.EQF)) == 1
    return False


def check_eu_microcredential(content: Mapping[str, Any], *, country: str | None,
                             awarding_body: str | None) -> None:
    if not content.get("eu_micro_credential"):
        return
    missing = missing_eu_elements(content, country=country, awarding_body=awarding_body)
    if missing:
        raise CatalogueRuleViolation(
            "eu_microcredential_incomplete",
            "A course flagged as an EU micro-credential lacks mandatory elements (R-CAT-5)",
            missing=missing)
