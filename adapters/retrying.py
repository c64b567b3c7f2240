"""One retry policy for transient faults, from tenacity: a bounded number
of attempts (or a deadline), exponential backoff with a cap, and a log line
before each wait. Callers say only what is worth retrying."""

from __future__ import annotations

import logging
from typing import Callable

from tenacity import (
    AsyncRetrying,
    Retrying,
    before_sleep_log,
    retry_if_exception,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_exponential,
)

log = logging.getLogger(__name__)

RetryOn = type[BaseException] | tuple[type[BaseException], ...] | Callable[[BaseException], bool]


def _policy(retry_on: RetryOn, first_s: float, max_s: float, attempts: int | None,
            deadline_s: float | None, level: int = logging.WARNING) -> dict:
    retry = (retry_if_exception(retry_on) if callable(retry_on) and not isinstance(retry_on, type)
             else retry_if_exception_type(retry_on))
    stop = stop_after_attempt(attempts) if attempts is not None else stop_after_delay(deadline_s)
    return {"retry": retry, "stop": stop, "reraise": True,
            "wait": wait_exponential(multiplier=first_s, min=first_s, max=max_s),
            "before_sleep": before_sleep_log(log, level)}


def retrying(retry_on: RetryOn, *, first_s: float, max_s: float, attempts: int | None = None,
             deadline_s: float | None = None) -> Retrying:
    """``for attempt in retrying(...): with attempt: ...``; the last error is re-raised."""
    return Retrying(**_policy(retry_on, first_s, max_s, attempts, deadline_s))


def aretrying(retry_on: RetryOn, *, first_s: float, max_s: float, attempts: int | None = None,
              deadline_s: float | None = None, level: int = logging.WARNING) -> AsyncRetrying:
    """``async for attempt in aretrying(...): with attempt: ...``, for coroutines.
    ``level``: of the line logged before each wait (DEBUG for an expected wait)."""
    return AsyncRetrying(**_policy(retry_on, first_s, max_s, attempts, deadline_s, level))
