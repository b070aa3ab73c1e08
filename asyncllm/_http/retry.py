"""When a request is repeated, and after how long (tenacity: the only place it is used). Whether an
error is worth repeating at all is decided in ``errors.py`` (:func:`~.errors._should_retry`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import anyio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from asyncllm import _tracing
from asyncllm._exceptions import APIError

from .deadlines import _Deadlines
from .errors import _Call, _should_retry, _timeout
from .settings import HTTPSettings


def _delay(s: HTTPSettings, exc: BaseException | None, attempt: int) -> float:
    """Wait before the next attempt: the server's hint if sane, else jittered ``base·2^(n-1)``."""
    hint = getattr(exc, "retry_after", None)
    if hint is not None and 0 <= hint <= s.retry_after_cap:
        return float(hint)
    delay = min(s.backoff_base * 2 ** (attempt - 1), s.backoff_max)
    return float(delay * (1 - 0.25 * random.random()))


async def _with_retries(s: HTTPSettings, call: _Call, dl: _Deadlines, attempt: Callable[[], Any]) -> Any:
    """Run ``attempt`` under the retry policy and the total deadline.

    The first attempt runs bare (the common case pays no tenacity overhead); if it fails,
    :func:`_retried` takes over. A caller that keeps many calls in flight (``stream_sse``) makes
    the first attempt itself, so that no frame of this function waits with each of them.
    """
    try:
        return await attempt()  # each attempt's own deadlines are already capped by the total one
    except APIError as exc:
        failed = exc
    return await _retried(s, call, dl, attempt, failed)


async def _retried(s: HTTPSettings, call: _Call, dl: _Deadlines, attempt: Callable[[], Any],
                   failed: APIError) -> Any:
    """After the first attempt failed with ``failed``: raise it, or let tenacity drive attempts
    2..max_attempts when it is retryable. A retry whose back-off would end past the total
    deadline is not made: the caller gets the real error, not a later timeout.
    """
    pred = _should_retry(s)
    delay = _delay(s, failed, 1)
    if s.max_attempts <= 1 or not pred(failed) or anyio.current_time() + delay >= dl.total:
        raise failed
    reason: list[BaseException | None] = [failed]  # why the next attempt is made (for tracing)
    with anyio.CancelScope(deadline=dl.total):
        await anyio.sleep(delay)
        retrying = AsyncRetrying(
            sleep=anyio.sleep,  # tenacity's default is asyncio.sleep; anyio's works on trio too
            stop=stop_after_attempt(s.max_attempts - 1)
            | stop_when(lambda st: anyio.current_time() + st.upcoming_sleep >= dl.total),
            wait=lambda st: _delay(s, st.outcome.exception() if st.outcome else None, st.attempt_number + 1),
            retry=retry_if_exception(pred),
            before_sleep=lambda st: reason.__setitem__(0, st.outcome.exception() if st.outcome else None),
            reraise=True,
        )
        async for att in retrying:
            with att:
                if _tracing.TRACER is not None:
                    _tracing.retry_event(att.retry_state.attempt_number + 1, reason[0])
                return await attempt()
    raise _timeout(call, "total", s.total_timeout)  # only reached when the total deadline's scope fired


class stop_when(stop_base):
    """Stop when ``pred(retry_state)`` holds (tenacity evaluates stop after computing the wait)."""

    def __init__(self, pred: Callable[[RetryCallState], bool]) -> None:
        self.pred = pred

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.pred(retry_state)
