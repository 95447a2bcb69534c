"""Reads and learners: registration (R-MB-2), the consolidated statement, the chain check
(R-LG-4), one achievement, a member's recorded results. Each route parses, authorises,
calls one use case, maps the result."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response

from ledger.domain.registration import IDENTIFIER, MEMBER_ID, Outcome
from ledger.domain.statement import statement_json
from ledger.entrypoints.http.results import AID
from ledger.entrypoints.http.schemas import (
    LEARNER_SCHEMA,
    LearnerIn,
    LearnerOut,
    achievement_json,
    batch_items,
    json_body,
    json_response,
    registrations_json,
    verification_json,
)
from ledger.service_layer import learners, queries, statements
from shared.auth import Caller, require_institution, require_learner_or_admin, require_role
from shared.consistency import MinLedgerSeq, read_at_least
from shared.errors import Problem
from shared.http import lean

router = APIRouter(prefix="/v1", tags=["learners"])
MAX_RESULTS_PAGE = 5000
LID = Annotated[str, Path(pattern=IDENTIFIER.pattern,
                          description="the consortium's learner number")]


def _engine(request: Request):
    return request.app.state.ctx.engine


@router.put("/learners/{lid}", response_model=LearnerOut, status_code=201,
            summary="Register a learner: home member, associate status (R-MB-2)")
async def put_learner(lid: LID, body: LearnerIn, caller: Caller, request: Request,
                      response: Response) -> LearnerOut:
    require_role(caller, "admin", "institution")
    done = await learners.register_learner(
        _engine(request), lid, body.home_member, body.associate,
        acting_institution=None if caller.is_admin else caller.subject)
    response.status_code = 201 if done.outcome is Outcome.CREATED else 200
    return LearnerOut(learner_id=lid, home_member=body.home_member, associate=body.associate,
                      revision=done.revision, outcome=done.outcome.value)


@router.post("/learners/batch",
             summary=f"Register up to {learners.MAX_BATCH:,} learners, per-item outcome (R-MB-2)",
             description="Per item: `created`, `updated`, `unchanged` or `rejected` (with "
                         "`errors` naming each field). The good items are written in one "
                         "transaction; a retry answers `unchanged`. A learner named twice: "
                         "the same values again are `unchanged`, other values `rejected`. "
                         "403 for the whole request, nothing written, if an institution "
                         "names another home member or changes another member's learner.",
             openapi_extra={"requestBody": {"required": True, "content": {"application/json": {
                 "schema": {"type": "object", "required": ["learners"],
                            "additionalProperties": False, "properties": {"learners": {
                                "type": "array", "minItems": 1, "maxItems": learners.MAX_BATCH,
                                "items": LEARNER_SCHEMA}}}}}}},
             responses={200: {"description": "`counts` by outcome and `learners`, one per "
                                             "item in order"},
                        400: {"description": "Malformed JSON; nothing written"},
                        415: {"description": "Not application/json; nothing written"},
                        422: {"description": "Not a batch body (each field named); nothing "
                                             "written"}})
async def post_learners_batch(caller: Caller, request: Request) -> Response:
    require_role(caller, "admin", "institution")
    items = batch_items(await json_body(request), "learners", learners.MAX_BATCH,
                        "registrations")
    outcomes = await learners.register_learners(
        _engine(request), items, acting_institution=None if caller.is_admin else caller.subject)
    return json_response(registrations_json(outcomes))


def _statement_reads(request: Request) -> statements.FreshStatements:
    """This process's hot statement reads (one per service context)."""
    ctx = request.app.state.ctx
    return ctx.shared("statement-reads", lambda: statements.FreshStatements(ctx.settings))


@lean(router, "GET", "/learners/{lid}/statement", summary="Consolidated statement",
      description="The learner and admins see everything; a member sees only what it "
                  "issued (totals over that only).")
async def get_statement(lid: LID, caller: Caller, request: Request,
                        min_ledger_seq: MinLedgerSeq = None) -> Response:
    """The hot read: a lean route (shared.http.LeanRoute), the stored rendering sent as
    it is (service_layer.statements)."""
    if caller.role == "institution":
        built = await read_at_least(
            lambda: statements.member_view(_engine(request), lid, caller.subject),
            lambda s: s.ledger_seq, min_ledger_seq)
        return json_response(statement_json(built))
    require_learner_or_admin(caller, lid)
    body, _ = await read_at_least(
        lambda: statements.read_statement(_engine(request), lid, _statement_reads(request)),
        lambda read: read[1], min_ledger_seq)
    return Response(body, media_type="application/json")


@router.get("/learners/{lid}/verify", summary="Recompute the hash chain (R-LG-4)",
            description="200 either way: `ok` false names the first bad link in "
                        "`first_bad_seq` with a `reason`.")
async def get_verify(lid: LID, caller: Caller, request: Request,
                     min_ledger_seq: MinLedgerSeq = None) -> Response:
    require_learner_or_admin(caller, lid)
    check = await read_at_least(lambda: queries.verify_chain(_engine(request), lid),
                                lambda c: c.ledger_seq, min_ledger_seq)
    return json_response(verification_json(lid, check.ledger_seq, check.verification))


@router.get("/achievements/{aid}", tags=["results"],
            summary="One achievement: original, latest and history (the learner, the issuer, admin)",
            responses={404: {"description": "No such achievement (`achievement_not_found`)"}})
async def get_achievement(aid: AID, caller: Caller, request: Request) -> Response:
    view = await queries.achievement(_engine(request), aid)
    allowed = (caller.is_admin or (caller.role == "learner" and caller.subject == view.learner_id)
               or (caller.role == "institution" and caller.subject == view.state.issuer))
    if not allowed:
        raise Problem(403, "wrong_tenant", "Only the learner, the issuer or an administrator "
                      "may read this achievement")
    return json_response(achievement_json(view))


@router.get("/institutions/{iid}/results", tags=["results"],
            summary="A member's recorded results, page by page (the member itself, admin)",
            description="Every achievement the member recorded, in result-id order, in its "
                        "latest state (R-LG-3: `latest`, with `original` kept): for a "
                        "registrar to reconcile Cairn against its own records. Read on with "
                        "`after` = the page's `next_after` until it is null.")
async def get_member_results(
        iid: Annotated[str, Path(pattern=MEMBER_ID.pattern,
                                 description="the member's institution id")],
        caller: Caller, request: Request,
        after: Annotated[str, Query(max_length=128, description="the previous page's "
                                    "`next_after`; empty for the first page")] = "",
        limit: Annotated[int, Query(ge=1, le=MAX_RESULTS_PAGE)] = 500) -> Response:
    if not caller.is_admin:
        require_institution(caller, iid)
    page = await queries.member_results(_engine(request), iid, after=after, limit=limit)
    return json_response({"institution_id": iid, "next_after": page.next_after,
                          "results": [achievement_json(view) for view in page.achievements]})
