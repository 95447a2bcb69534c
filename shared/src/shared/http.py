"""The HTTP kit every service uses: problem+json errors, request ids on every log line,
request-latency metrics, JSON-only bodies, health, readiness and /metrics."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import structlog
from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy import text

from shared.admission import Admission, AdmissionLimits, Overloaded
from shared.auth import authenticate, current_principal
from shared.errors import Problem, install_error_handlers, problem_response
from shared.metrics import REQUEST_LATENCY, exposition
from shared.openapi import document_problems

MAX_BODY_BYTES = 32 << 20  # a 10,000-item results batch is ~5 MB
_BODY_METHODS = {b"POST", b"PUT", b"PATCH"}


class EdgeMiddleware:
    """Pure ASGI (cheap on the hot path): request id, latency metric, body guards, and
    the process's body budget (shared.admission) before a body is read."""

    def __init__(self, app: Any, service: str, admission: Admission | None = None) -> None:
        self.app, self.service = app, service
        # one per process and service, shared by the app's two EdgeMiddlewares (ServiceApp)
        self.admission = admission or Admission(AdmissionLimits(), service)
        self._latency: dict[tuple[str, str, str], Any] = {}  # labelled histogram children

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        # a caller's id, or 128 random bits (uuid4().hex's form without its ~2 µs)
        request_id = headers.get(b"x-request-id", b"").decode()[:64] or os.urandom(16).hex()
        rejection = _reject_body(scope, headers)
        status_holder = {"status": 500}

        async def send_wrapper(message: dict) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        started = time.perf_counter()
        with structlog.contextvars.bound_contextvars(request_id=request_id, service=self.service):
            if rejection is None:
                rejection = _reject_nul_in_url(scope)
            if rejection is None and scope["method"].encode() in _BODY_METHODS:
                weight = self.admission.weight(_declared_length(headers))
                try:  # the body is read only once admitted (shared.admission)
                    async with self.admission.admitted(weight):
                        rejection = await self._with_body(scope, receive, send_wrapper)
                except Overloaded as problem:
                    rejection = problem
            elif rejection is None:
                await self.app(scope, receive, send_wrapper)
            if rejection is not None:
                retry = rejection.extra.get("retry_after")
                await problem_response(rejection, headers=None if retry is None else {
                    "Retry-After": str(retry)})(scope, receive, send_wrapper)
        key = (scope["method"], getattr(scope.get("route"), "path", "unmatched"),
               str(status_holder["status"]))
        histogram = self._latency.get(key)
        if histogram is None:  # labels() looks the child up under a lock: once per key
            histogram = self._latency[key] = REQUEST_LATENCY.labels(self.service, *key)
        histogram.observe(time.perf_counter() - started)

    async def _with_body(self, scope: dict, receive: Callable, send: Callable
                         ) -> Problem | None:
        """The app, called with the body read whole; or the problem to answer instead."""
        body = await _read_body(receive)
        if body is _TOO_LARGE:  # sent in chunks, with no Content-Length to refuse
            return _too_large()
        if isinstance(body, bytes):  # None: the client went away (the app sees it)
            if (rejection := _reject_nul_in_body(body)) is not None:
                return rejection
            receive = _replay(body, receive)
        await self.app(scope, receive, send)
        return None


def _declared_length(headers: dict[bytes, bytes]) -> int | None:
    """The body's Content-Length; None when it comes in chunks (length unknown)."""
    length = headers.get(b"content-length")
    if length is not None and length.isdigit():
        return int(length)
    return None if b"transfer-encoding" in headers else 0


def _reject_body(scope: dict, headers: dict[bytes, bytes]) -> Problem | None:
    method = scope["method"].encode()
    if method not in _BODY_METHODS:
        return None
    length = headers.get(b"content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        return _too_large()
    has_body = (length is not None and length != b"0") or b"transfer-encoding" in headers
    media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if has_body and not (media == b"application/json" or media.endswith(b"+json")):
        return Problem(415, "unsupported_media_type", "Send the body as application/json",
                       detail=f"got content-type {media.decode() or '(none)'}")
    return None


# U+0000: no identifier, search term or text of Cairn holds it, and PostgreSQL text cannot
# store it (nor compare with it): without these checks it was a 500 wherever a string
# reached the database (a course search's `q`, a member's name, an achievement id).
_NUL_MESSAGE = "U+0000 (NUL) is not allowed"


def _nul_problem(fields: list[str]) -> Problem:
    return Problem(422, "validation_failed", "The request is not valid",
                   detail=f"invalid: {', '.join(fields)}",
                   errors=[{"field": f, "reason": "invalid_character", "message": _NUL_MESSAGE}
                           for f in fields])


def _reject_nul_in_url(scope: dict) -> Problem | None:
    query: bytes = scope.get("query_string", b"")
    fields = ["path"] if "\x00" in scope["path"] else []
    if b"%00" in query or b"\x00" in query:
        fields += [f"query.{name}" for name, value in
                   parse_qsl(query.decode("utf-8", "replace"), keep_blank_values=True)
                   if "\x00" in name or "\x00" in value] or ["query"]
    return _nul_problem(fields) if fields else None


def _reject_nul_in_body(body: bytes) -> Problem | None:
    """A JSON body with a \\u0000 escape (a raw NUL byte is not JSON: the parser says so).
    An escaped backslash before "u0000" is text, not the escape: counted, not refused."""
    at = body.find(b"\\u0000")
    while at != -1:
        start = at
        while start > 0 and body[start - 1] == 0x5C:  # the backslashes ending at `at`
            start -= 1
        if (at - start) % 2 == 0:  # an odd run: its last one begins the escape
            return _nul_problem(["body"])
        at = body.find(b"\\u0000", at + 1)
    return None


def _too_large() -> Problem:
    return Problem(413, "payload_too_large", "The request body is too large",
                   detail=f"at most {MAX_BODY_BYTES} bytes")


_TOO_LARGE = object()  # what _read_body answers for a body past MAX_BODY_BYTES


async def _read_body(receive: Callable) -> bytes | object | None:
    """The whole request body (the services read it whole anyway); None if the client
    disconnected first, `_TOO_LARGE` once it passes MAX_BODY_BYTES (not read further)."""
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return _TOO_LARGE
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _replay(body: bytes, receive: Callable) -> Callable:
    """`receive` for the app: the body read already, then whatever comes next."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> dict:
        return pending.pop() if pending else await receive()
    return replay


class LeanRoute(APIRoute):
    """A hot route (thousands of requests a second): documented from its endpoint's
    signature like any other, served without FastAPI's per-request dependency solving,
    which costs ~150 µs here — more than the work of a statement read — and, in a
    `ServiceApp`, without its middleware stack and router either (`ServiceApp.__call__`).

    The endpoint may take only: the `Request`, the caller (`shared.auth.Caller`, checked
    by the same `authenticate` as everywhere), and path and query parameters, each
    validated by its declared type and constraints (a bad one is the same 422 problem
    as on any route). It returns a `Response`. Anything else is refused when the route
    is built. Register one with `lean` below."""

    def get_route_handler(self) -> Callable:
        dependant, endpoint = self.dependant, self.endpoint
        callers = [d.name for d in dependant.dependencies if d.call is current_principal]
        if (len(callers) != len(dependant.dependencies) or len(callers) > 1
                or dependant.body_params or dependant.header_params
                or dependant.cookie_params or dependant.response_param_name):
            raise TypeError(f"{self.path}: a lean route takes the request, the caller, "
                            "and path and query parameters only")
        caller_name, request_name = (callers or [None])[0], dependant.request_param_name
        params = [("path", f) for f in dependant.path_params] + \
                 [("query", f) for f in dependant.query_params]

        async def handle(request: Request) -> Response:
            values: dict[str, Any] = {}
            if caller_name is not None:  # 401 before anything is parsed
                values[caller_name] = authenticate(request)
            if request_name is not None:
                values[request_name] = request
            errors: list[Any] = []
            for where, field in params:
                source = request.path_params if where == "path" else request.query_params
                raw = source.get(field.alias)
                if raw is None:
                    if field.field_info.is_required():
                        errors.append({"type": "missing", "loc": (where, field.alias),
                                       "msg": "Field required", "input": None})
                    else:
                        values[field.name] = field.get_default()
                    continue
                value, problems = field.validate(raw, values, loc=(where, field.alias))
                errors.extend(problems)
                values[field.name] = value
            if errors:
                raise RequestValidationError(errors)
            return await endpoint(**values)

        return handle


def lean(router: APIRouter, method: str, path: str, **documentation: Any) -> Callable:
    """`@lean(router, "GET", "/learners/{lid}/statement", summary=...)`: a LeanRoute.
    Its path must not also match another route of the app: in a `ServiceApp` a lean
    route is matched before every other."""
    def register(endpoint: Callable) -> Callable:
        router.add_api_route(path, endpoint, methods=[method], route_class_override=LeanRoute,
                             **documentation)
        return endpoint
    return register


def route_path(scope: dict) -> str:
    """The path the app routes on: without the root path when the server left it in
    (uvicorn --root-path, a Starlette mount), as is when a gateway stripped it."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root) and path[len(root):len(root) + 1] in ("", "/"):
        return path[len(root):]
    return path


@dataclass(frozen=True, slots=True)
class _Hot:
    route: LeanRoute
    handle: Callable[[Request], Awaitable[Response]]  # built once, not per request


class ServiceApp(FastAPI):
    """Every service's app: FastAPI, with its lean routes served first and directly.

    A request to a lean route goes from the server to `EdgeMiddleware` (request id, the
    latency metric, body guards) and straight on to the route's handler; its errors are
    answered by the app's own exception handlers (`shared.errors`), so the answers are
    the same as through the full stack. Skipped: Starlette's middleware stack and
    FastAPI's router, which add nothing a lean route uses: measured in-process, a
    statement read's time in the framework fell from 68 to 31 µs. Every other request
    takes FastAPI's path."""

    _hot: tuple[_Hot, ...] = ()
    _hot_app: Any = None

    def serve_lean_routes(self, routers: Sequence[APIRouter], service: str) -> None:
        """Serve the lean routes of `routers` (included without a prefix) directly."""
        if [m.cls for m in self.user_middleware] != [EdgeMiddleware]:
            raise RuntimeError("a ServiceApp's only middleware is EdgeMiddleware: its lean "
                               "routes would skip any other")
        self._hot = tuple(_Hot(route, route.get_route_handler())
                          for router in routers for route in router.routes
                          if isinstance(route, LeanRoute))
        edge = self.user_middleware[0].kwargs
        self._hot_app = EdgeMiddleware(self._serve_lean, service, edge.get("admission"))

    def add_middleware(self, middleware_class: Any, *args: Any, **kwargs: Any) -> None:
        if self._hot:
            raise RuntimeError("a ServiceApp's only middleware is EdgeMiddleware: its lean "
                               "routes would skip any other")
        super().add_middleware(middleware_class, *args, **kwargs)

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http" and self._hot:
            path = route_path(scope)
            for hot in self._hot:
                found = hot.route.path_regex.match(path)
                if found is not None and scope["method"] in hot.route.methods:
                    convert = hot.route.param_convertors
                    scope["app"], scope["route"], scope["endpoint"] = (
                        self, hot.route, hot.route.endpoint)
                    scope["path_params"] = {name: convert[name].convert(value)
                                            for name, value in found.groupdict().items()}
                    scope["lean.handle"] = hot.handle
                    await self._hot_app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        """FastAPI's schema, with errors documented as they are answered (shared.openapi)."""
        if self.openapi_schema is None:
            self.openapi_schema = document_problems(super().openapi())
        return self.openapi_schema

    async def _serve_lean(self, scope: dict, receive: Callable, send: Callable) -> None:
        request = Request(scope, receive, send)
        try:
            response = await scope["lean.handle"](request)
        except Exception as error:
            handler = next((self.exception_handlers[kind] for kind in type(error).__mro__
                            if kind in self.exception_handlers), None)
            if handler is None:
                raise
            response = await handler(request, error)
        await response(scope, receive, send)


def create_service_app(*, service: str, title: str, description: str, version: str,
                       lifespan: Callable, routers: Sequence[APIRouter],
                       readiness: Callable[[FastAPI], Any] | None = None,
                       admission: AdmissionLimits | None = None) -> FastAPI:
    app = ServiceApp(title=title, description=description, version=version, lifespan=lifespan,
                     docs_url="/docs", openapi_url="/openapi.json",
                     responses={401: {"description": "Missing or invalid bearer token"},
                                403: {"description": "Wrong role or wrong tenant"}})
    install_error_handlers(app)
    # One body budget for the app, whichever of its two EdgeMiddlewares a request takes.
    app.add_middleware(EdgeMiddleware, service=service,
                       admission=Admission(admission or AdmissionLimits(), service))
    for router in routers:
        app.include_router(router)
    app.serve_lean_routes(routers, service)

    @app.get("/health", tags=["operations"], summary="Liveness")
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service}

    @app.get("/ready", tags=["operations"], summary="Readiness: database and bus")
    async def ready(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            async with request.app.state.ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            checks["database"] = "ok"
        except Exception as error:  # readiness reports, it does not raise
            checks["database"] = f"down: {type(error).__name__}"
        if readiness is not None:
            checks.update(await readiness(request.app))
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"status": "ready" if ok else "not_ready", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics",
             response_class=Response)
    async def metrics() -> Response:
        body, content_type = exposition()
        return Response(body, media_type=content_type)

    return app
