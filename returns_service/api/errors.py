"""One error hierarchy, mapped to RFC 9457 problem+json in one place."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM = "application/problem+json"


logger = logging.getLogger(__name__)


class Problem(Exception):
    status = 500
    title = "Internal error"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra

    @property
    def type(self) -> str:
        return f"https://returns.dev/problems/{self.title.lower().replace(' ', '-')}"


class Unauthorized(Problem):
    status, title = 401, "Unauthorized"


class Forbidden(Problem):
    status, title = 403, "Forbidden"


class NotFound(Problem):
    status, title = 404, "Not found"


class Conflict(Problem):
    status, title = 409, "Conflict"


class InvalidInput(Problem):
    """A request that is well-formed but wrong: names the field."""

    status, title = 422, "Unprocessable content"

    def __init__(self, field: str, message: str, **extra: Any) -> None:
        super().__init__(
            f"{field}: {message}", errors=[{"field": field, "message": message}], **extra
        )


class TooLarge(Problem):
    status, title = 413, "Content too large"


class TooManyRequests(Problem):
    status, title = 429, "Too many requests"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail, retry_after=retry_after)
        self.headers = {"Retry-After": str(retry_after)}


class Unavailable(Problem):
    status, title = 503, "Service unavailable"


def problem_response(
    status: int,
    title: str,
    detail: str,
    type_: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {"type": type_, "title": title, "status": status, "detail": detail, **extra}
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _field(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] if parts[0] == "body" else parts
    out = ""
    for part in parts:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(Problem)
    async def _problem(_: Request, error: Problem) -> JSONResponse:
        return problem_response(
            error.status,
            error.title,
            error.detail,
            error.type,
            headers=getattr(error, "headers", None),
            **error.extra,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, error: RequestValidationError) -> JSONResponse:
        errors = [
            {
                # A body that is not JSON at all: its position is not a field.
                "field": "body" if e.get("type") == "json_invalid" else _field(e.get("loc", ())),
                "message": str(e.get("msg", "invalid")),
            }
            for e in error.errors()
        ]
        detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "Unprocessable content",
            detail,
            "https://returns.dev/problems/unprocessable-content",
            errors=errors,
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, error: Exception) -> JSONResponse:
        # Whatever slipped past validation still answers as a problem, never as plain text.
        logger.exception("unexpected error", exc_info=error)
        return problem_response(
            500,
            "Internal server error",
            "the request could not be completed; nothing is known to have changed",
            "https://returns.dev/problems/internal-server-error",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, error: StarletteHTTPException) -> JSONResponse:
        title = {404: "Not found", 405: "Method not allowed"}.get(error.status_code, "Error")
        extra: dict[str, Any] = {}
        if error.status_code == 400:
            # A body that could not be read (nested too deep, a number too long): say which part.
            extra["errors"] = [{"field": "body", "message": str(error.detail)}]
        return problem_response(
            error.status_code,
            title,
            str(error.detail),
            f"https://returns.dev/problems/{title.lower().replace(' ', '-')}",
            **extra,
        )
