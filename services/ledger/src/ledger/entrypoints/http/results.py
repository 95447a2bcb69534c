"""Writes to the ledger: results (single and batch), corrections, revocations.
Each route parses, authorises, calls one use case and maps the result."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ledger.domain.idempotency import result_conflict
from ledger.entrypoints.http.result_wire import decode_batch, decode_result
from ledger.entrypoints.http.schemas import (
    RESULT_SCHEMA,
    RevocationIn,
    batch_items,
    batch_json,
    invalid,
    json_body,
    json_response,
    parse_json,
)
from ledger.service_layer import amending, recording
from ledger.service_layer.recording import MAX_BATCH, Outcome
from shared.auth import Caller, require_role
from shared.http import lean

router = APIRouter(prefix="/v1", tags=["results"])
AID = Annotated[str, Path(max_length=200, description="achievement id: institution:result_id")]


def _engine(request: Request):
    return request.app.state.ctx.engine


def _single_results(request: Request) -> recording.SingleResults:
    """This process's group commit of single results (one per service context)."""
    ctx = request.app.state.ctx
    return ctx.shared("single-results", lambda: recording.SingleResults(ctx.engine))


def latest_today() -> date:
    """The latest calendar date anywhere (UTC+14): a result assessed "today" in Kiribati
    is not in the future."""
    return (datetime.now(UTC) + timedelta(hours=14)).date()


def _body(schema: dict) -> dict:
    return {"requestBody": {"required": True,
                            "content": {"application/json": {"schema": schema}}}}


@lean(router, "POST", "/results", status_code=201, summary="Record one result (R-LG-1/2)",
      openapi_extra=_body(RESULT_SCHEMA),
      description="Answered once committed. Results of one member arriving together "
                  "are committed together (group commit); each is decided as if alone.",
      responses={200: {"description": "The same result again: the first answer"},
                 409: {"description": "Another result holds this result id "
                                      "(`result_id_conflict`): the problem names its "
                                      "`achievement_id`, `achievement_status` (current, "
                                      "corrected, revoked) and `matches_latest` (it was "
                                      "corrected to exactly this result: nothing to do)"}})
async def post_result(caller: Caller, request: Request) -> Response:
    """The hot write: a lean route (shared.http.LeanRoute) and the group commit."""
    require_role(caller, "institution")
    raw = await request.body()
    item = decode_result(raw)  # typed as it is decoded: the plain shape of a good result
    if item is None:
        item = parse_json(raw)  # anything else: the general reader names every problem
    outcome = await _single_results(request).record(caller.subject, item, today=latest_today())
    if outcome.outcome is Outcome.REJECTED:
        raise invalid(outcome.errors)
    if outcome.outcome is Outcome.CONFLICT:
        raise result_conflict(caller.subject, outcome.result_id or "",
                              achievement_id=outcome.achievement_id,
                              status=outcome.status or "current",
                              matches_latest=bool(outcome.matches_latest))
    body = {"achievement_id": outcome.achievement_id, "ledger_seq": outcome.ledger_seq,
            "learner_id": outcome.learner_id, "result_id": outcome.result_id}
    return json_response(body, 201 if outcome.outcome is Outcome.CREATED else 200)


@router.post("/results/batch", summary=f"Record up to {MAX_BATCH:,} results, per-item outcome",
             openapi_extra=_body({"type": "object", "required": ["results"], "properties": {
                 "results": {"type": "array", "minItems": 1, "maxItems": MAX_BATCH,
                             "items": RESULT_SCHEMA}}}))
async def post_batch(caller: Caller, request: Request, dry_run: Annotated[bool, Query(
        description="check the batch, write nothing: each item answers as it would be "
                    "recorded now, `would_create` for a new result (with the achievement "
                    "id it would get, no ledger_seq)")] = False) -> Response:
    """Per item: created, duplicate (recorded before: the first answer, with
    achievement_status and matches_latest when the achievement was corrected or revoked
    since), conflict (with the achievement holding the id: achievement_id,
    achievement_status, matches_latest), rejected (with errors). Good items are committed
    exactly once, also on a retry."""
    require_role(caller, "institution")
    raw = await request.body()
    results = decode_batch(raw, MAX_BATCH)  # the common shape, typed as it is decoded
    if results is None:
        results = batch_items(parse_json(raw), "results", MAX_BATCH, "results")
    outcomes = await recording.record_results(_engine(request), caller.subject, results,
                                              today=latest_today(), dry_run=dry_run)
    return json_response(batch_json(outcomes, dry_run=dry_run))


@router.post("/achievements/{aid}/corrections", status_code=201,
             summary="Correct an achievement (issuer only, R-LG-3)",
             openapi_extra=_body({"type": "object", "required": ["result"], "properties": {
                 "result": RESULT_SCHEMA, "reason": {"type": "string"}}}),
             responses={200: {"description": "Already the latest content: nothing appended"},
                        404: {"description": "No such achievement (`achievement_not_found`)"},
                        409: {"description": "The achievement is revoked (`already_revoked`)"}})
async def post_correction(aid: AID, caller: Caller, request: Request) -> Response:
    require_role(caller, "institution")
    body = await json_body(request)
    if not isinstance(body, Mapping) or "result" not in body:
        raise invalid([{"field": "result", "reason": "missing",
                        "message": "a correction carries the whole corrected result"}])
    extra = sorted(set(body) - {"result", "reason"})
    reason = body.get("reason", "")
    if extra or not isinstance(reason, str) or len(reason) > 2000:
        raise invalid([{"field": k, "reason": "invalid", "message": f"{k} is not accepted"}
                       for k in (extra or ["reason"])])
    done = await amending.correct_achievement(_engine(request), caller.subject, aid,
                                              body["result"], reason, today=latest_today())
    return _amended(done)


@router.post("/achievements/{aid}/revocation", status_code=201,
             summary="Revoke an achievement (issuer only, R-LG-3)",
             responses={200: {"description": "Revoked before with this reason: the first "
                                             "answer. A dry run's answer: `outcome` "
                                             "`would_revoke` or `duplicate`"},
                        404: {"description": "No such achievement (`achievement_not_found`)"},
                        409: {"description": "Already revoked with another reason"}})
async def post_revocation(aid: AID, body: RevocationIn, caller: Caller, request: Request,
                          dry_run: Annotated[bool, Query(
                              description="check, write nothing: answered as the revocation "
                                          "would be now (the same refusals), 200 with "
                                          "`outcome` `would_revoke` (no ledger_seq) or "
                                          "`duplicate`")] = False) -> Response:
    require_role(caller, "institution")
    return _amended(await amending.revoke_achievement(_engine(request), caller.subject, aid,
                                                      body.reason, dry_run=dry_run))


def _amended(done: amending.Amendment) -> Response:
    body = {"achievement_id": done.achievement_id, "learner_id": done.learner_id,
            "ledger_seq": done.ledger_seq, "status": done.status.value}
    if done.dry_run:
        outcome = "would_revoke" if done.appended else "duplicate"
        return json_response({**body, "dry_run": True, "outcome": outcome})
    return json_response(body, 201 if done.appended else 200)
