"""The ledger API's JSON: request-body helpers and response bodies (DESIGN §7). Results
are read without a validation framework (domain.result_json), so the batch path stays
cheap; responses are plain dicts."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field

from ledger.domain.achievements import AchievementState
from ledger.domain.chain import Verification
from ledger.domain.results import submission_json
from ledger.service_layer.recording import ItemOutcome, Outcome
from shared.contracts.values import Wire
from shared.errors import Problem

RESULT_SCHEMA = {"type": "object", "description": "A result (DESIGN §7 body)", "required": [
    "result_id", "learner_id", "institution_id", "title", "credit", "level", "subjects",
    "grade", "assessed_on"]}


async def json_body(request: Request) -> Any:
    raw = await request.body()
    if b"\\u0000" in raw:  # PostgreSQL text and jsonb cannot hold U+0000
        raise Problem(422, "validation_failed", "The request is not valid",
                      detail="U+0000 is not allowed", errors=[{
                          "field": "body", "reason": "invalid_character",
                          "message": "strings may not contain U+0000"}])
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as error:
        raise Problem(400, "malformed_json", "The request body is not valid JSON",
                      detail=str(error)) from error


def json_response(body: Any, status_code: int = 200) -> Response:
    """orjson straight to bytes: a 10,000-item batch answer without a model per item."""
    return Response(orjson.dumps(body), status_code=status_code, media_type="application/json")


def invalid(errors: list[dict[str, Any]], code: str = "validation_failed") -> Problem:
    fields = ", ".join(dict.fromkeys(str(e["field"]) for e in errors))
    return Problem(422, code, "The request is not valid", detail=f"invalid: {fields}",
                   errors=errors)


class LearnerIn(Wire):
    home_member: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    associate: bool = False


class LearnerOut(BaseModel):
    learner_id: str
    home_member: str
    associate: bool
    revision: int
    outcome: str


class RevocationIn(Wire):
    reason: str = Field(min_length=1, max_length=2000)


def item_json(item: ItemOutcome) -> dict[str, Any]:
    body: dict[str, Any] = {"index": item.index, "result_id": item.result_id,
                            "outcome": item.outcome.value}
    if item.achievement_id is not None:
        body |= {"achievement_id": item.achievement_id, "ledger_seq": item.ledger_seq,
                 "learner_id": item.learner_id}
    if item.errors:
        body["errors"] = item.errors
    return body


def batch_json(items: list[ItemOutcome]) -> dict[str, Any]:
    counts = {o.value: 0 for o in Outcome}
    for item in items:
        counts[item.outcome.value] += 1
    return {"counts": counts, "results": [item_json(i) for i in items]}


def verification_json(learner_id: str, ledger_seq: int, v: Verification) -> dict[str, Any]:
    return {"learner_id": learner_id, "ledger_seq": ledger_seq, "ok": v.ok,
            "checked": v.checked, "first_bad_seq": v.first_bad_seq, "reason": v.reason,
            "detail": v.detail, "last_hash": v.last_hash}


def achievement_json(learner_id: str, state: AchievementState) -> dict[str, Any]:
    return {"achievement_id": state.achievement_id, "learner_id": learner_id,
            "issuer": state.issuer, "status": state.status.value,
            "recorded_seq": state.recorded_seq, "ledger_seq": state.updated_seq,
            "corrections": state.corrections, "used_by_award": state.used_by_award,
            "revocation_reason": state.revocation_reason,
            "original": submission_json(state.original), "latest": submission_json(state.latest)}
