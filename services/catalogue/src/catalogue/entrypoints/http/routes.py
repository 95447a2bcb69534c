"""Catalogue routes: parse, authorise, call one use case, map the result."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from catalogue.domain.course import CourseVersion
from catalogue.domain.equivalence import CourseKey, Equivalence
from catalogue.domain.institution import Institution
from catalogue.entrypoints.http.schemas import (
    CourseIn,
    CourseOut,
    CoursePage,
    EquivalenceIn,
    EquivalenceOut,
    InstitutionIn,
    InstitutionOut,
)
from catalogue.service_layer import publishing, queries
from shared.auth import Caller, require_institution, require_role
from shared.contracts.values import CourseRef
from shared.domain.levels import Framework, Level, parse_level
from shared.errors import Problem

router = APIRouter(prefix="/v1")
IID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                          description="institution id")]
CODE = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$", description="course code")]
EID = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
                          description="equivalence id")]


def _engine(request: Request):
    return request.app.state.ctx.engine


_NO_MEMBER = {"description": "Not a registered member (`institution_not_found`)"}


def _status(response: Response, outcome: publishing.Outcome) -> None:
    response.status_code = 201 if outcome is publishing.Outcome.CREATED else 200


def _institution_out(inst: Institution, outcome: str | None = None) -> InstitutionOut:
    return InstitutionOut(institution_id=inst.institution_id, name=inst.name, country=inst.country,
                          framework=inst.framework.value, revision=inst.revision, outcome=outcome,
                          awarding_powers={"framework": inst.awarding_powers.framework.value,
                                           "max_level": inst.awarding_powers.value})


def _course_out(v: CourseVersion | Any, outcome: str | None = None) -> CourseOut:
    return CourseOut(institution_id=v.institution_id, code=v.code, version=v.version,
                     effective_from=v.effective_from, content_hash=v.content_hash,
                     cah=list(v.cah or ()), outcome=outcome, course=v.content)


def _equivalence_out(eq: Equivalence, outcome: str | None = None) -> EquivalenceOut:
    return EquivalenceOut(institution_id=eq.institution_id, equivalence_id=eq.equivalence_id,
                          revision=eq.revision, target_code=eq.target_code,
                          source=[CourseRef(institution_id=s.institution_id, code=s.code)
                                  for s in eq.source],
                          effective_from=eq.effective_from, effective_to=eq.effective_to,
                          outcome=outcome)


# --- members (R-MB-1) --------------------------------------------------------------------

@router.put("/institutions/{iid}", response_model=InstitutionOut, tags=["members"],
            status_code=201, summary="Register or update a member (admin)")
async def put_institution(iid: IID, body: InstitutionIn, caller: Caller, request: Request,
                          response: Response) -> InstitutionOut:
    require_role(caller, "admin")
    result = await publishing.register_institution(_engine(request), Institution(
        iid, body.name, body.country, Framework(body.framework),
        Level(Framework(body.awarding_powers.framework), body.awarding_powers.max_level)))
    _status(response, result.outcome)
    return _institution_out(result.value, result.outcome.value)


@router.get("/institutions", response_model=list[InstitutionOut], tags=["members"])
async def get_institutions(caller: Caller, request: Request) -> list[InstitutionOut]:
    return [_institution_out(i) for i in await queries.list_institutions(_engine(request))]


@router.get("/institutions/{iid}", response_model=InstitutionOut, tags=["members"],
            responses={404: _NO_MEMBER})
async def get_institution(iid: IID, caller: Caller, request: Request) -> InstitutionOut:
    return _institution_out(await queries.get_institution(_engine(request), iid))


# --- courses (R-CAT-1, R-CAT-2, R-CAT-5) ---------------------------------------------------

@router.put("/institutions/{iid}/courses/{code}", response_model=CourseOut, tags=["courses"],
            status_code=201, summary="Publish a course version (the institution itself)",
            responses={200: {"description": "Unchanged: no new version"},
                       404: _NO_MEMBER,
                       422: {"description": "Invalid, or an incomplete EU micro-credential"}})
async def put_course(iid: IID, code: CODE, body: CourseIn, caller: Caller, request: Request,
                     response: Response) -> CourseOut:
    require_institution(caller, iid)
    content = body.model_dump(mode="json", exclude_none=True)
    result = await publishing.publish_course(_engine(request), iid, code, content)
    _status(response, result.outcome)
    return _course_out(result.value, result.outcome.value)


@router.get("/institutions/{iid}/courses/{code}", response_model=CourseOut, tags=["courses"],
            summary="The version in force on a date (default today)",
            responses={404: {"description": "Not published (`course_not_found`), or no "
                                            "version in force then (`no_version_in_force`)"}})
async def get_course(iid: IID, code: CODE, caller: Caller, request: Request,
                     at: date | None = None) -> CourseOut:
    version = await queries.course_in_force(_engine(request), iid, code, at or date.today())
    return _course_out(version)


@router.get("/institutions/{iid}/courses/{code}/versions", response_model=list[CourseOut],
            tags=["courses"], summary="Every published version, oldest first",
            responses={404: {"description": "Not published (`course_not_found`)"}})
async def get_course_versions(iid: IID, code: CODE, caller: Caller,
                              request: Request) -> list[CourseOut]:
    return [_course_out(v) for v in await queries.course_versions(_engine(request), iid, code)]


@router.get("/courses", response_model=CoursePage, tags=["courses"],
            summary="Search courses in force (level matches across frameworks, R-LV-2)")
async def search_courses(
    caller: Caller, request: Request,
    institution: Annotated[str | None, Query(max_length=64)] = None,
    level: Annotated[str | None, Query(description="FRAMEWORK:N, e.g. FHEQ:7")] = None,
    subject: Annotated[str | None, Query(description="HECoS code (100366) or CAH prefix "
                                          "(CAH11, CAH11-01)", max_length=16)] = None,
    q: Annotated[str | None, Query(max_length=200, description="words in code, title, "
                                   "learning outcomes")] = None,
    micro_credential: bool | None = None,
    at: date | None = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CoursePage:
    parsed_level = None
    if level:
        try:
            parsed_level = parse_level(level)
        except ValueError as error:
            raise Problem(422, "validation_failed", "The request is not valid",
                          detail=str(error), errors=[{"field": "level", "reason": "invalid_level",
                                                      "message": str(error)}]) from error
    page = await queries.search_courses(
        _engine(request), at=at or date.today(), institution=institution, level=parsed_level,
        subject=subject, q=q, micro_credential=micro_credential, limit=limit, cursor=cursor)
    return CoursePage(items=[_course_out(r) for r in page.items], next_cursor=page.next_cursor)


# --- equivalences (R-CAT-3) ------------------------------------------------------------------

@router.put("/institutions/{iid}/equivalences/{eid}", response_model=EquivalenceOut,
            tags=["equivalences"], status_code=201,
            summary="Publish an equivalence (the receiving institution)",
            responses={200: {"description": "Changed or unchanged: `outcome` says which"},
                       404: _NO_MEMBER})
async def put_equivalence(iid: IID, eid: EID, body: EquivalenceIn, caller: Caller,
                          request: Request, response: Response) -> EquivalenceOut:
    require_institution(caller, iid)  # R-CAT-3: only the receiving member
    result = await publishing.publish_equivalence(_engine(request), Equivalence(
        iid, eid, tuple(CourseKey(s.institution_id, s.code) for s in body.source),
        body.target_code, body.effective_from, body.effective_to))
    _status(response, result.outcome)
    return _equivalence_out(result.value, result.outcome.value)


@router.get("/institutions/{iid}/equivalences", response_model=list[EquivalenceOut],
            tags=["equivalences"], responses={404: _NO_MEMBER})
async def get_equivalences(iid: IID, caller: Caller, request: Request) -> list[EquivalenceOut]:
    return [_equivalence_out(e) for e in await queries.list_equivalences(_engine(request), iid)]


@router.get("/institutions/{iid}/equivalences/{eid}", response_model=EquivalenceOut,
            tags=["equivalences"],
            responses={404: {"description": "No such equivalence (`equivalence_not_found`)"}})
async def get_equivalence(iid: IID, eid: EID, caller: Caller,
                          request: Request) -> EquivalenceOut:
    return _equivalence_out(await queries.get_equivalence(_engine(request), iid, eid))
