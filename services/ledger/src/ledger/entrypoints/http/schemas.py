"""The ledger API's JSON: request-body helpers and response bodies (DESIGN §7). Results
are read without a validation framework (domain.result_json), so the batch path stays
cheap; responses are plain dicts."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from fastapi import Request, Response
from pydantic import BaseModel, Field

from ledger.domain.achievements import HistoryEntry
from ledger.domain.chain import Verification
from ledger.domain.registration import IDENTIFIER, MEMBER_ID
from ledger.domain.registration import Outcome as RegistrationResult
from ledger.domain.result_json import REQUIRED_FIELDS
from ledger.domain.results import Origin, submission_json
from ledger.service_layer.learners import ItemOutcome as RegistrationOutcome
from ledger.service_layer.queries import AchievementView
from ledger.service_layer.recording import CHECKING, RECORDING, ItemOutcome, Outcome
from shared.contracts.values import Wire
from shared.domain.credit import MAX_NOTIONAL_HOURS, CreditScheme
from shared.domain.levels import FRAMEWORK_RANGES, Framework
from shared.errors import Problem

_TEXT = {"type": "string", "minLength": 1, "pattern": r"\S"}  # not blank
# A Decimal (R-CR-3): a string of digits or an integer, never a float
_DECIMAL_NOTE = 'a decimal as a string ("7.5") or an integer; never a JSON float, not even 15.0'
_DECIMAL = {"description": _DECIMAL_NOTE, "oneOf": [
    {"type": "string", "pattern": r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*$"},
    {"type": "integer"}]}
_DAY = {"type": "string", "format": "date", "pattern": r"^\d{4}-\d{2}-\d{2}$"}


def _object(properties: dict[str, Any], required: Sequence[str] = (), *,
            closed: bool = False, description: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


# The result body (DESIGN §7) as OpenAPI documents it. domain.result_json is what checks
# a result (without a validation framework, for speed); this schema says the same, and
# tests/unit/ledger/test_result_schema.py holds the two to each other.
RESULT_SCHEMA = _object({
    "result_id": {"type": "string", "pattern": IDENTIFIER.pattern,
                  "description": "the member's own id of this result (letters, digits and "
                                 "`._-`, at most 128): recording it again is idempotent "
                                 "(R-LG-2)"},
    "learner_id": {"type": "string", "pattern": IDENTIFIER.pattern,
                   "description": "the consortium's learner number"},
    "institution_id": {**_TEXT, "description": "the issuing member: the caller itself"},
    "course": _object({"institution_id": _TEXT, "code": _TEXT}, ["institution_id", "code"],
                      description="the catalogue course, if any"),
    "title": _TEXT,
    "credit": _object({"value": {**_DECIMAL, "description": f"positive; {_DECIMAL_NOTE}"},
                       "scheme": {"enum": [s.value for s in CreditScheme]}},
                      ["value", "scheme"], description="credit as the member gives it"),
    "level": _object({"framework": {"enum": [f.value for f in Framework]},
                      "value": {"type": "integer", "description": "within its framework "
                                "(R-LV-1)"}}, ["framework", "value"]),
    "subjects": {"type": "array", "minItems": 1, "items": _object(
        {"hecos": {**_TEXT, "description": "HECoS code"}, "percent": _DECIMAL},
        ["hecos", "percent"]), "description": "shares adding up to 100 (R-CAT)"},
    "grade": _object({"scale": _TEXT, "value": _TEXT}, ["scale", "value"]),
    "assessed_on": {**_DAY, "description": "not in the future"},
    "origin": {"enum": [o.value for o in Origin], "default": Origin.MEMBER.value,
               "description": "rpl: recognition of prior learning"},
    "notional_hours": {"type": "integer", "minimum": 1, "maximum": MAX_NOTIONAL_HOURS},
    "eu": _object({
        "country": _TEXT, "awarding_body": _TEXT, "assessment": _TEXT,
        "participation": _TEXT, "quality_assurance": _TEXT, "issued_on": _DAY,
        "learning_outcomes": {"type": "array", "items": {"type": "string"}},
        "workload_ects": _DECIMAL, "eqf_level": {
            "type": "integer", "minimum": FRAMEWORK_RANGES[Framework.EQF][0],
            "maximum": FRAMEWORK_RANGES[Framework.EQF][1]}},
        closed=True, description="the European micro-credential elements (R-CAT-5)"),
}, sorted(REQUIRED_FIELDS), closed=True, description="A result (DESIGN §7 body)")


async def json_body(request: Request) -> Any:
    return parse_json(await request.body())  # U+0000 was refused at the edge (shared.http)


def parse_json(raw: bytes) -> Any:
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


def batch_items(body: Any, key: str, limit: int, noun: str) -> list[Any]:
    """The items of a batch body `{key: [1 to limit items]}`; anything else is a 422
    naming the field, before anything is read or written."""
    if not isinstance(body, Mapping):
        raise invalid([{"field": "body", "reason": "object_required",
                        "message": f'the body is {{"{key}": [...]}}'}])
    extra = sorted(set(body) - {key})
    items = body.get(key)
    if extra:
        raise invalid([{"field": k, "reason": "unknown_field",
                        "message": f"{k} is not a field of a batch"} for k in extra])
    if not isinstance(items, list) or not 1 <= len(items) <= limit:
        raise invalid([{"field": key, "reason": "batch_size",
                        "message": f"{key} must be a list of 1 to {limit:,} {noun}"}])
    return items


class LearnerIn(Wire):
    home_member: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
    associate: bool = False


LEARNER_SCHEMA = {"type": "object", "description": "A learner's registration (R-MB-2)",
                  "required": ["learner_id", "home_member"], "additionalProperties": False,
                  "properties": {
                      "learner_id": {"type": "string", "pattern": IDENTIFIER.pattern},
                      "home_member": {"type": "string", "pattern": MEMBER_ID.pattern},
                      "associate": {"type": "boolean", "default": False}}}


def registrations_json(items: list[RegistrationOutcome]) -> dict[str, Any]:
    counts = {o.value: 0 for o in RegistrationResult}
    out = []
    for item in items:
        counts[item.outcome.value] += 1
        body: dict[str, Any] = {"index": item.index, "learner_id": item.learner_id,
                                "outcome": item.outcome.value}
        if item.errors:
            body["errors"] = item.errors
        else:
            body |= {"home_member": item.home_member, "associate": item.associate,
                     "revision": item.revision}
        out.append(body)
    return {"counts": counts, "learners": out}


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
    if item.outcome is Outcome.CONFLICT:  # the achievement holding the id, as it stands
        body |= {"achievement_id": item.achievement_id, "achievement_status": item.status,
                 "matches_latest": item.matches_latest}
    elif item.achievement_id is not None:
        body |= {"achievement_id": item.achievement_id, "ledger_seq": item.ledger_seq,
                 "learner_id": item.learner_id}
        if item.status is not None:  # a duplicate of an achievement corrected or revoked since
            body |= {"achievement_status": item.status, "matches_latest": item.matches_latest}
    if item.errors:
        body["errors"] = item.errors
    return body


def batch_json(items: list[ItemOutcome], *, dry_run: bool = False) -> dict[str, Any]:
    counts = {o.value: 0 for o in (CHECKING if dry_run else RECORDING)}
    for item in items:
        counts[item.outcome.value] += 1
    return {"dry_run": dry_run, "counts": counts, "results": [item_json(i) for i in items]}


def verification_json(learner_id: str, ledger_seq: int, v: Verification) -> dict[str, Any]:
    return {"learner_id": learner_id, "ledger_seq": ledger_seq, "ok": v.ok,
            "checked": v.checked, "first_bad_seq": v.first_bad_seq, "reason": v.reason,
            "detail": v.detail, "last_hash": v.last_hash}


def achievement_json(view: AchievementView) -> dict[str, Any]:
    state = view.state
    return {"achievement_id": state.achievement_id, "learner_id": view.learner_id,
            "issuer": state.issuer, "status": state.status.value,
            "recorded_seq": state.recorded_seq, "ledger_seq": state.updated_seq,
            "corrections": state.corrections, "used_by_award": state.used_by_award,
            "revocation_reason": state.revocation_reason,
            "original": submission_json(state.original), "latest": submission_json(state.latest),
            "history": [history_json(h) for h in view.history]}


def history_json(entry: HistoryEntry) -> dict[str, Any]:
    body: dict[str, Any] = {"ledger_seq": entry.ledger_seq, "kind": entry.kind,
                            "recorded_at": entry.recorded_at, "by": entry.by}
    if entry.kind in ("corrected", "revoked"):
        body["reason"] = entry.reason
    if entry.kind == "corrected":
        body["changes"] = [{"field": c.field, "from": c.before, "to": c.after}
                           for c in entry.changes]
    if entry.award_id is not None:
        body["award_id"] = entry.award_id
    return body
