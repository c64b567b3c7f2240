"""What a use case can refuse, in words safe to show any caller.

The web layer maps each to one HTTP status (``web.errors``); the CLI to an
exit code. Messages never quote server files or carry tracebacks.
"""

from __future__ import annotations

from typing import Any


class UseCaseError(Exception):
    """A refusal the caller can act on."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class NotFound(UseCaseError):
    """The object, decision, job or model does not exist (for this caller)."""


class Conflict(UseCaseError):
    """The request is valid but the state does not allow it now."""


class TooLarge(UseCaseError):
    """A body, batch or file over its limit."""


class Unavailable(UseCaseError):
    """A part of the stack the use case needs is not running."""


class Invalid(UseCaseError):
    """Input that breaks a rule; ``errors`` names each field and why."""

    def __init__(self, errors: list[dict[str, Any]], message: str | None = None):
        self.errors = errors
        first = errors[0] if errors else {}
        super().__init__(message or (f"invalid {first.get('field') or 'input'}: {first.get('reason', '')}"
                                     if errors else "invalid input"))


def invalid(field: str | None, reason: str, **more: Any) -> Invalid:
    """One invalid field."""
    return Invalid([{"field": field, "reason": reason, **more}])


class ContentMismatch(UseCaseError):
    """The store holds bytes other than the ones the object's log names."""


class Busy(UseCaseError):
    """Too much already queued, or a quota spent; try again after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int = 30, quota: str | None = None,
                 limit: int | None = None):
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.quota = quota
        self.limit = limit


def root_cause(exc: BaseException) -> BaseException:
    """The exception an actor raised, unwrapped from Ray's RayTaskError."""
    cause = getattr(exc, "cause", None)  # ray.exceptions.RayTaskError keeps the original here
    return root_cause(cause) if isinstance(cause, BaseException) and cause is not exc else exc


def public_message(exc: BaseException) -> str:
    """What an exception says, without a remote traceback around it."""
    exc = root_cause(exc)
    text = str(exc.args[0]) if exc.args else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Unauthenticated(UseCaseError):
    """No key, or a key that does not let anyone in."""


class Forbidden(UseCaseError):
    """A valid key whose role does not allow this."""
