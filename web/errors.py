"""Errors as HTTP, in one place: JSON bodies of one shape, never a traceback.

Every 4xx/5xx body is ``{"detail": "<sentence>"}``; a validation failure adds
``errors``, one ``{"field", "reason"}`` per problem (records of a batch also
carry their ``index``); a 500 adds a ``reference`` into the server log.

A domain rule broken inside an actor reaches the API wrapped by Ray: the
wrapper is an instance of the rule's class too, but its text is the remote
traceback (process id, address, file paths). Callers see the rule's own words.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from tiering.domain.model import DomainRuleError
from tiering.services.errors import (
    Busy,
    Conflict,
    ContentMismatch,
    Forbidden,
    Invalid,
    NotFound,
    TooLarge,
    Unauthenticated,
    Unavailable,
    UseCaseError,
    public_message,
    root_cause,
)

log = logging.getLogger(__name__)
STATUS = {Unauthenticated: 401, Forbidden: 403, NotFound: 404, Conflict: 409, TooLarge: 413, Invalid: 422,
          Busy: 429, ContentMismatch: 502, Unavailable: 503}

__all__ = ["install", "public_message", "root_cause", "field_errors"]


def field_errors(errors: Any) -> list[dict[str, Any]]:
    """FastAPI's validation errors as ``{"field", "reason"}``; the input is not echoed."""
    out = []
    for e in errors:
        loc = [str(part) for part in e.get("loc", ()) if part not in ("body", "query", "path", "header")]
        out.append({"field": ".".join(loc) or e.get("loc", ["body"])[0], "reason": e.get("msg", "invalid")})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(UseCaseError)
    async def refused(_: Request, exc: UseCaseError) -> JSONResponse:
        status = next((code for cls, code in STATUS.items() if isinstance(exc, cls)), 400)
        body: dict[str, Any] = {"detail": exc.message}
        headers = {}
        if isinstance(exc, Invalid):
            body["errors"] = exc.errors
        if isinstance(exc, Busy):
            headers["Retry-After"] = str(exc.retry_after_s)
            if exc.quota is not None:
                body.update(quota=exc.quota, limit=exc.limit)
        if isinstance(exc, Unauthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = field_errors(exc.errors())
        first = errors[0] if errors else {"field": "request", "reason": "invalid"}
        return JSONResponse({"detail": f"invalid {first['field']}: {first['reason']}", "errors": errors},
                            status_code=422)

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        body = {"detail": exc.detail if isinstance(exc.detail, str) else str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(DomainRuleError)
    async def rule_broken(_: Request, exc: DomainRuleError) -> JSONResponse:
        return JSONResponse({"detail": public_message(exc)}, status_code=409)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.error("%s %s failed (reference %s)", request.method, request.url.path, reference,
                  exc_info=root_cause(exc))
        return JSONResponse({"detail": "internal error; the server log has the details",
                             "reference": reference}, status_code=500)
