"""Every error of the API in one shape: RFC 9457 problem details, `application/problem+json`.

Routes raise `ApiProblem` or let a domain error through; `install(app)` turns both, request
validation, routing's 404 and 405, and anything unexpected (a 500 that shows no internals)
into a problem. `PROBLEM_RESPONSES` documents them for a router's `responses=`.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dashboard_app.domain.errors import (
    AuthenticationFailed,
    DomainError,
    InsufficientCredits,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from dashboard_app.domain.generation.review import NotAllowedNow
from dashboard_app.domain.generation.submit import KeyReused
from dashboard_app.domain.plans import LimitReached
from dashboard_app.domain.rate_limits import RateLimited

PROBLEM_MEDIA_TYPE = "application/problem+json"
log = structlog.get_logger(__name__)


class FieldError(BaseModel):
    field: str = Field(description="The field, e.g. `display_name` or `query.limit`.")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = Field(default="about:blank", description="A URI naming the kind of problem.")
    title: str = Field(description="A short summary of the kind of problem.")
    status: int = Field(description="The HTTP status code.")
    detail: str = Field(default="", description="What went wrong this time, for a person.")
    instance: str = Field(default="", description="The path of the request that failed.")
    errors: list[FieldError] | None = Field(
        default=None, description="Each field that is wrong, when the request had fields."
    )


class ApiProblem(Exception):
    """Raise from a route or a dependency to answer with a problem."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str = "",
        headers: dict[str, str] | None = None,
        *,
        errors: list[FieldError] | None = None,
        type: str = "about:blank",  # noqa: A002  (the RFC's member name)
    ) -> None:
        super().__init__(detail or title)
        self.status, self.title, self.detail = status, title, detail
        self.headers, self.errors, self.type = headers or {}, errors, type


def phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def problem_response(
    request: Request | None,
    status: int,
    *,
    title: str | None = None,
    detail: str = "",
    headers: dict[str, str] | None = None,
    errors: list[FieldError] | None = None,
    type: str = "about:blank",  # noqa: A002
) -> JSONResponse:
    body = Problem(
        type=type,
        title=title or phrase(status),
        status=status,
        detail=detail,
        instance=request.url.path if request is not None else "",
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        headers={"Cache-Control": "no-store", **(headers or {})},
        media_type=PROBLEM_MEDIA_TYPE,
    )


def retry_after_seconds(retry_at: datetime, now: datetime | None = None) -> int:
    """Whole seconds until `retry_at`, at least 1 (the Retry-After header's form)."""
    now = now or datetime.now(UTC)
    return max(1, math.ceil((retry_at - now).total_seconds()))


def _domain_status(error: DomainError) -> int:
    for kind, status in (
        (RateLimited, 429),
        (LimitReached, 429),  # a plan limit: Retry-After says when it frees, when known
        (NotFound, 404),
        (AuthenticationFailed, 401),
        (PermissionDenied, 403),
        (InsufficientCredits, 402),
        (NotAllowedNow, 409),  # an action that does not apply to the job now
        (KeyReused, 409),  # an Idempotency-Key used before for another request
        (InvalidInput, 400),
    ):
        if isinstance(error, kind):
            return status
    return 400  # any other refusal a caller can act on: nothing was changed


def _field_errors(error: DomainError) -> list[FieldError] | None:
    many = getattr(error, "errors", None)
    if isinstance(many, dict) and many:
        return [FieldError(field=str(name), message=str(text)) for name, text in many.items()]
    if error.field:
        return [FieldError(field=error.field, message=error.message)]
    return None


async def _on_api_problem(request: Request, problem: Exception) -> JSONResponse:
    assert isinstance(problem, ApiProblem)
    return problem_response(
        request,
        problem.status,
        title=problem.title,
        detail=problem.detail,
        headers=problem.headers,
        errors=problem.errors,
        type=problem.type,
    )


async def _on_domain_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DomainError)
    status = _domain_status(error)
    headers = {}
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(retry_after_seconds(error.retry_at))
    elif isinstance(error, LimitReached) and error.frees_at is not None:
        headers["Retry-After"] = str(retry_after_seconds(error.frees_at))
    return problem_response(
        request, status, detail=error.message, headers=headers, errors=_field_errors(error)
    )


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(part) for part in loc]
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [
        FieldError(field=_location(item.get("loc", ())), message=str(item.get("msg", "")))
        for item in error.errors()
    ]
    return problem_response(
        request,
        422,
        detail="The request does not fit the API: see `errors`.",
        errors=errors,
    )


async def _on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else ""
    if detail == phrase(error.status_code):
        detail = ""  # routing's own text repeats the title
    return problem_response(
        request, error.status_code, detail=detail, headers=dict(error.headers or {})
    )


class UnexpectedErrors:
    """Anything a route did not expect becomes a 500 problem that says nothing of the cause
    (which is logged with the request id). Starlette's own handler for `Exception` would
    re-raise after answering; this one ends there."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            log.exception("api.unexpected_error", path=scope.get("path", ""))
            if started:
                raise
            response = problem_response(
                Request(scope),
                500,
                detail="Something went wrong on our side. Try again in a moment.",
            )
            await response(scope, receive, send)


def install(app: FastAPI) -> None:
    app.add_exception_handler(ApiProblem, _on_api_problem)
    app.add_exception_handler(DomainError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_middleware(UnexpectedErrors)


def _documented(description: str) -> dict[str, Any]:
    return {"model": Problem, "description": description}


# For `APIRouter(responses=PROBLEM_RESPONSES)`: app.py documents them as problem+json.
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _documented("Bad request: a value the server refuses (see `detail` and `errors`)."),
    401: _documented("No valid `Authorization: Bearer` credential."),
    403: _documented("The credential may not do this (a read-only key writing)."),
    404: _documented("No such resource (another member's resource is not found either)."),
    422: _documented("The request does not fit the document (see `errors`)."),
    429: _documented("Too many calls: wait the `Retry-After` seconds."),
    500: _documented("Something went wrong on the server."),
}
