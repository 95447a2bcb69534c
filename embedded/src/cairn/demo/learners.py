"""Demo learners and their results at several members (issue 4, item 8): each result is
taken from the course as the demo catalogue publishes it, so credit and level agree; one
result is corrected and one revoked (R-LG-3), so both show in the statements."""

from __future__ import annotations

from typing import Any

from cairn.demo.consortium import COURSES, LEARNERS

_LATEST = {(iid, code): history[-1] for iid, code, history in COURSES}

# learner -> [(member, course code, grade, assessed on)]
_TRANSCRIPTS: dict[str, list[tuple[str, str, str, str]]] = {
    "L-0000001": [  # home uni-north, associate: stacks PG data science across three members
        ("uni-north", "DS701", "68", "2025-01-20"),
        ("uni-north", "DS702", "72", "2025-06-16"),
        ("uni-scot", "DS11A", "64", "2025-06-02"),
        ("uni-lowlands", "EMC-DV1", "7.5", "2025-04-11"),
        ("uni-lowlands", "EMC-DV2", "8", "2025-06-27"),
        ("uni-lowlands", "EMC-GAI", "7", "2026-02-20"),
    ],
    "L-0000002": [  # home uni-scot: undergraduate computing, one module at uni-north
        ("uni-scot", "CS07A", "61", "2024-12-13"),
        ("uni-scot", "SE08A", "58", "2025-05-23"),
        ("uni-scot", "DB09A", "66", "2025-12-12"),
        ("uni-north", "CS502", "55", "2025-06-13"),
    ],
    "L-0000003": [  # home uni-lowlands: business with a Welsh module
        ("uni-lowlands", "BUS201", "7", "2025-01-31"),
        ("uni-lowlands", "ECO201", "6.5", "2025-06-20"),
        ("uni-valleys", "BM601", "62", "2025-06-06"),
    ],
}
_SCALES = {"uni-lowlands": "NL-10"}
CORRECTION = ("uni-north", "L-0000001", "DS702", {"scale": "UK-PERCENT", "value": "74"},
              "second marking raised the mark")
REVOCATION = ("uni-scot", "L-0000002", "SE08A", "assessment offence upheld on appeal")


def result_id(learner_id: str, code: str) -> str:
    return f"DEMO-{learner_id}-{code}"


def _result(learner_id: str, iid: str, code: str, grade: str, assessed_on: str) -> dict:
    course = _LATEST[(iid, code)]
    return {"result_id": result_id(learner_id, code), "learner_id": learner_id,
            "institution_id": iid, "course": {"institution_id": iid, "code": code},
            "title": course["title"], "credit": course["credit"], "level": course["level"],
            "subjects": course["subjects"],
            "grade": {"scale": _SCALES.get(iid, "UK-PERCENT"), "value": grade},
            "assessed_on": assessed_on, "origin": "member",
            **({"notional_hours": course["notional_hours"]}
               if course.get("notional_hours") else {})}


def results_by_member() -> dict[str, list[dict[str, Any]]]:
    """Each member's batch of demo results."""
    batches: dict[str, list[dict[str, Any]]] = {}
    for learner_id, transcript in _TRANSCRIPTS.items():
        for iid, code, grade, assessed_on in transcript:
            batches.setdefault(iid, []).append(_result(learner_id, iid, code, grade, assessed_on))
    return batches


def corrected_result() -> tuple[str, str, dict]:
    """(issuer, achievement id, correction body)."""
    iid, learner_id, code, grade, reason = CORRECTION
    original = next(r for r in results_by_member()[iid]
                    if r["result_id"] == result_id(learner_id, code))
    return iid, f"{iid}:{result_id(learner_id, code)}", {
        "result": {**original, "grade": grade}, "reason": reason}


def revocation() -> tuple[str, str, dict]:
    iid, learner_id, code, reason = REVOCATION
    return iid, f"{iid}:{result_id(learner_id, code)}", {"reason": reason}


__all__ = ["LEARNERS", "corrected_result", "results_by_member", "revocation"]
