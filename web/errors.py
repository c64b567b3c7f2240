"""Errors as HTTP, in one place: JSON bodies, never a traceback.

A domain rule broken inside an actor reaches the API wrapped by Ray: the
wrapper is an instance of the rule's class too, but its text is the remote
traceback (process id, address, file paths). Callers see the rule's own
words; anything unexpected is a 500 with a reference into the server log.
"""

from __future__ import annotations

import logging
import uuid

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from tiering.domain.model import DomainRuleError

log = logging.getLogger(__name__)


def root_cause(exc: BaseException) -> BaseException:
    """The exception an actor raised, unwrapped from Ray's RayTaskError."""
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError keeps the original here
    return root_cause(cause) if isinstance(cause, BaseException) and cause is not exc else exc


def public_message(exc: BaseException) -> str:
    """What an exception says, without a remote traceback around it."""
    exc = root_cause(exc)
    text = str(exc.args[0]) if exc.args else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def install(app: FastAPI) -> None:
    @app.exception_handler(DomainRuleError)
    async def rule_broken(_: Request, exc: DomainRuleError) -> JSONResponse:
        return JSONResponse({"detail": public_message(exc)}, status_code=409)

    @app.exception_handler(KeyError)
    async def unknown_key(_: Request, exc: KeyError) -> JSONResponse:
        cause = root_cause(exc)
        return JSONResponse({"detail": f"not found: {cause.args[0] if cause.args else ''}"},
                            status_code=404)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        reference = uuid.uuid4().hex[:12]
        log.error("%s %s failed (reference %s)", request.method, request.url.path, reference,
                  exc_info=exc)
        return JSONResponse({"detail": "internal error; the server log has the details",
                             "reference": reference}, status_code=500)
