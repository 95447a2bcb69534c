"""RFC 9457 problem details with stable machine-readable codes.

Every error any service returns is `application/problem+json` with `type`
(https://cairn.example/problems/<code>), `code`, `title`, `status`, and for invalid
input the list of `errors` naming each field. Never a 500 for bad input."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.domain.errors import RuleViolation

PROBLEM_BASE = "https://cairn.example/problems/"
PROBLEM_JSON = "application/problem+json"
log = structlog.get_logger(__name__)


class Problem(Exception):
    def __init__(self, status: int, code: str, title: str, *, detail: str | None = None,
                 **extra: Any) -> None:
        super().__init__(f"{status} {code}: {title}")
        self.status, self.code, self.title, self.detail, self.extra = (
            status, code, title, detail, extra)

    def body(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": PROBLEM_BASE + self.code, "code": self.code,
                                "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(jsonable_encoder(self.extra))
        return body


def problem_response(problem: Problem, request: Request | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    instance = request.url.path if request is not None else None
    return JSONResponse(problem.body(instance), status_code=problem.status,
                        media_type=PROBLEM_JSON, headers=headers)


_STATUS_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
                 405: "method_not_allowed", 406: "not_acceptable", 409: "conflict",
                 413: "payload_too_large", 415: "unsupported_media_type",
                 422: "validation_failed", 429: "too_many_requests",
                 503: "service_unavailable"}


def _field_path(loc: tuple[Any, ...]) -> str:
    # ("body", "credit", "value") -> "credit.value"; query/path params keep their source.
    parts = [str(p) for p in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_problem(errors: list[dict[str, Any]]) -> Problem:
    if any(e.get("type") == "json_invalid" for e in errors):
        first = next(e for e in errors if e.get("type") == "json_invalid")
        return Problem(400, "malformed_json", "The request body is not valid JSON",
                       detail=str(first.get("ctx", {}).get("error", first.get("msg"))))
    items = [{"field": _field_path(tuple(e.get("loc", ()))), "reason": e.get("type"),
              "message": e.get("msg")} for e in errors]
    fields = ", ".join(dict.fromkeys(i["field"] for i in items))
    return Problem(422, "validation_failed", "The request is not valid",
                   detail=f"invalid: {fields}", errors=items)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        headers = {"Retry-After": str(exc.extra["retry_after"])} if "retry_after" in exc.extra else None
        if exc.status == 401:
            headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
        return problem_response(exc, request, headers)

    @app.exception_handler(RuleViolation)
    async def _rule(request: Request, exc: RuleViolation) -> JSONResponse:
        return problem_response(Problem(exc.status, exc.code, exc.message, **exc.details),
                                request)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return problem_response(validation_problem(list(exc.errors())), request)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
        problem = Problem(exc.status_code, code, str(exc.detail))
        return problem_response(problem, request, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        if (state := _sqlstate(exc)) in _DATABASE_OUT_OF_RESOURCES:
            log.warning("http.database_out_of_resources", path=request.url.path,
                        sqlstate=state, error=str(exc))
            return problem_response(Problem(
                503, "database_busy", "The database is out of room for this request now",
                detail="Try again shortly; a batch of fewer learners needs less room.",
                retry_after=5), request, {"Retry-After": "5"})
        log.error("http.unhandled_error", path=request.url.path, exc_info=exc)
        return problem_response(Problem(500, "internal_error", "Something went wrong on our side"),
                                request)


# PostgreSQL's class 53 (insufficient resources) errors that pass: "out of shared memory"
# (53200; e.g. the lock table full, README: max_locks_per_transaction) and "too many
# connections" (53300). The request did nothing (its transaction rolled back): 503.
_DATABASE_OUT_OF_RESOURCES = {"53200", "53300"}


def _sqlstate(exc: BaseException) -> str | None:
    """The SQLSTATE of a database error, raised by asyncpg or wrapped by SQLAlchemy."""
    seen: BaseException | None = exc
    for _ in range(4):
        if seen is None:
            return None
        state = getattr(seen, "sqlstate", None)
        if isinstance(state, str):
            return state
        seen = getattr(seen, "orig", None) or seen.__cause__
    return None
