"""RFC 9457 problem details: the one error type services raise, and the one handler set.

Services raise `Problem` (or a helper below) and never import FastAPI; `install` turns
every error the app can produce — ours, Starlette's routing errors, request validation —
into `application/problem+json`.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match, Mount
from starlette.staticfiles import StaticFiles

from app.logs import request_id_var

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:neighbourwatch:problem:"

log = logging.getLogger(__name__)

# Errors listed in a validation answer: a body of thousands of unknown keys must not get
# an answer many times its size (979 KB of them had an 11.4 MB answer).
MAX_ERRORS = 20


class FieldError(BaseModel):
    field: str = Field(
        description="Dotted path of the offending field, e.g. `location.coordinates`"
    )
    message: str
    code: str | None = Field(default=None, description="Machine-readable reason")


class ProblemDetail(BaseModel):
    """An RFC 9457 problem document."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="URI identifying the problem type")
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[FieldError] | None = Field(
        default=None, description=f"The offending fields, at most {MAX_ERRORS} of them"
    )
    error_count: int | None = Field(
        default=None, description="How many fields were wrong, listed in `errors` or not"
    )


class Problem(Exception):
    """An error answered to the client as a problem document."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        kind: str | None = None,
        title: str | None = None,
        errors: list[FieldError] | None = None,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title or HTTPStatus(status).phrase)
        self.status = status
        self.detail = detail
        self.type = f"{TYPE_PREFIX}{kind}" if kind else "about:blank"
        self.title = title or HTTPStatus(status).phrase
        self.errors = errors
        self.headers = headers or {}
        self.extensions = extensions


def not_found(what: str = "resource") -> Problem:
    return Problem(404, f"No such {what}.", kind="not-found")


def forbidden(detail: str) -> Problem:
    return Problem(403, detail, kind="forbidden")


def conflict(detail: str, kind: str = "conflict") -> Problem:
    return Problem(409, detail, kind=kind)


def field_problem(
    status: int, field: str, message: str, *, kind: str, code: str, title: str | None = None
) -> Problem:
    """A problem about one field, named in `errors` as validation answers name them."""
    return Problem(
        status,
        f"{field}: {message}",
        kind=kind,
        title=title,
        errors=[FieldError(field=field, message=message, code=code)],
        error_count=1,
    )


def invalid(field: str, message: str, code: str = "invalid") -> Problem:
    """A 422 about one field that the request models could not catch by themselves."""
    return field_problem(
        422, field, message, kind="validation-error", code=code, title="Invalid request"
    )


def too_many_requests(retry_after_s: int, detail: str) -> Problem:
    return Problem(
        429,
        detail,
        kind="rate-limited",
        headers={"Retry-After": str(max(1, retry_after_s))},
        retry_after_s=max(1, retry_after_s),
    )


def unauthenticated(detail: str = "A valid access token is required.") -> Problem:
    return Problem(
        401,
        detail,
        kind="unauthenticated",
        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
    )


def problem_response(problem: Problem, request: Request | None = None) -> JSONResponse:
    body = ProblemDetail(
        type=problem.type,
        title=problem.title,
        status=problem.status,
        detail=problem.detail,
        instance=request.url.path if request is not None else None,
        request_id=request_id_var.get(),
        errors=problem.errors,
        **problem.extensions,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_MEDIA_TYPE,
    )


# Tags of discriminated unions, which pydantic puts into error locations
# (`area.Polygon.coordinates`) although they are not fields the client wrote.
UNION_TAGS = frozenset({"Point", "Polygon", "MultiPolygon"})


def _field_path(loc: tuple[int | str, ...]) -> tuple[str, str]:
    """Split a pydantic location into where it was (body, query, …) and a dotted path."""
    where = str(loc[0]) if loc else "body"
    rest = [str(part) for part in loc[1:] if part not in UNION_TAGS]
    return where, ".".join(rest) if rest else where


def _validation_problem(exc: RequestValidationError) -> Problem:
    raw = exc.errors()
    if any(e.get("type") == "json_invalid" for e in raw):
        error = next(e for e in raw if e.get("type") == "json_invalid")
        ctx = error.get("ctx") or {}
        return Problem(
            400,
            f"The body is not valid JSON: {ctx.get('error', 'parse error')}.",
            kind="malformed-body",
        )
    errors = []
    for e in raw[:MAX_ERRORS]:
        where, path = _field_path(tuple(e.get("loc", ())))
        message = str(e.get("msg", "invalid")).removeprefix("Value error, ")
        if where not in ("body",):
            message = f"{message} (in {where})"
        errors.append(FieldError(field=path, message=message, code=str(e.get("type"))))
    detail = "; ".join(f"{err.field}: {err.message}" for err in errors)
    if len(raw) > len(errors):
        detail += f"; and {len(raw) - len(errors)} more"
    return Problem(
        422,
        detail,
        kind="validation-error",
        title="Invalid request",
        errors=errors,
        error_count=len(raw),
    )


# The methods an `Allow` may name, in the order it names them.
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path.

    Starlette's 405 names the methods of the first route that matched the path only, and
    each of our operations is a route of its own (`GET` and `POST /v1/incidents` are two),
    so its `Allow` left out the others that RFC 9110 §15.5.6 says it must list. Each
    method is tried on the router as a request would be.
    """
    allowed = []
    # From the top: below a mount, the scope's root path includes the mount's prefix.
    top = request.scope.get("app_root_path", request.scope.get("root_path", ""))
    for method in METHODS:
        scope = {**request.scope, "method": method, "root_path": top}
        for route in request.app.router.routes:
            if route.matches(scope)[0] != Match.FULL:
                continue
            # A mount takes every method; StaticFiles then serves only these.
            static = isinstance(route, Mount) and isinstance(route.app, StaticFiles)
            if not static or method in ("GET", "HEAD"):
                allowed.append(method)
                break
    return allowed


def install(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc, request)

    async def on_http_exception(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        problem = Problem(
            exc.status_code, exc.detail if exc.detail else None, headers=dict(exc.headers or {})
        )
        if exc.status_code == 404 and exc.detail == "Not Found":
            problem.detail = f"No route matches {request.url.path}."
        if exc.status_code == 405:
            allowed = allowed_methods(request)
            problem.detail = (
                f"{request.method} is not allowed on {request.url.path}; "
                f"allowed: {', '.join(allowed)}."
            )
            problem.headers["Allow"] = ", ".join(allowed)
        return problem_response(problem, request)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(_validation_problem(exc), request)

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http_exception)
    app.add_exception_handler(RequestValidationError, on_validation_error)
