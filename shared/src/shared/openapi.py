"""What every service's OpenAPI says of its errors: each is an RFC 9457 problem
(`application/problem+json`, `shared.errors`), and an operation lists the ones it can
answer. FastAPI documents a 422 of its own shape as `application/json` and nothing of the
edge's refusals (malformed JSON, a body too large or not JSON), so a member's client
generated from the spec would not expect the answers it gets."""

from __future__ import annotations

import json
from typing import Any

PROBLEM = "application/problem+json"
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object", "required": ["type", "code", "title", "status"],
    "description": "RFC 9457 problem details; `code` is the machine-readable reason",
    "properties": {
        "type": {"type": "string", "description": "https://cairn.example/problems/<code>"},
        "code": {"type": "string", "examples": ["validation_failed"]},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string", "description": "the request's path"},
        "errors": {"type": "array", "description": "for invalid input: each field at fault",
                   "items": {"type": "object", "required": ["field", "reason"], "properties": {
                       "field": {"type": "string", "examples": ["credit.value"]},
                       "reason": {"type": "string", "examples": ["invalid_credit"]},
                       "message": {"type": "string"}}}},
        "retry_after": {"type": "integer", "description": "seconds, as the Retry-After header"},
    },
    "additionalProperties": True,
}
# Answered by the edge (shared.http, shared.errors) to any operation that takes a body.
_BODY_PROBLEMS = {
    "400": "Malformed JSON (`malformed_json`); nothing written",
    "413": "Body larger than the service takes (`payload_too_large`); nothing written",
    "415": "Body not `application/json` (`unsupported_media_type`); nothing written",
    "422": "Invalid input (`validation_failed`): `errors` names each field; nothing written",
    "503": "Busy with other large requests (`overloaded`, shared.admission): the body was "
           "not read and nothing written; send it again after Retry-After seconds",
}
_PARAMETER_PROBLEM = {"422": "Invalid path or query parameter: `errors` names it"}
_NOT_CAUGHT_UP = {"503": "Not caught up with `min_ledger_seq` after a short wait "
                         "(`not_caught_up`): try again after Retry-After seconds"}


def document_problems(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema` (FastAPI's) with every error response a problem, and the edge's ones listed."""
    ref = {"$ref": "#/components/schemas/Problem"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            parameters = {p["name"] for p in operation.get("parameters", ())}
            expected: dict[str, str] = {}
            for applies, problems in (("requestBody" in operation, _BODY_PROBLEMS),
                                      (bool(parameters), _PARAMETER_PROBLEM),
                                      ("min_ledger_seq" in parameters, _NOT_CAUGHT_UP)):
                for status, description in problems.items() if applies else ():
                    expected[status] = (f"{expected[status]}; or: {description}"
                                        if status in expected else description)
            for status, description in expected.items():
                if status not in responses or _is_fastapis_422(responses[status]):
                    responses[status] = {"description": description}
            for status, response in responses.items():
                if status[0] in "45":
                    response["content"] = {PROBLEM: {"schema": ref}}
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    if '"#/components/schemas/HTTPValidationError"' not in json.dumps(schema["paths"]):
        components.pop("HTTPValidationError", None)  # FastAPI's 422, every one replaced,
        components.pop("ValidationError", None)  # and what only it refers to
    return schema


def _is_fastapis_422(response: dict[str, Any]) -> bool:
    return response.get("description") == "Validation Error"
