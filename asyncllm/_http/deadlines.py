"""The four deadlines of a call (connect, first chunk, idle, total) as anyio cancel scopes.
"""

from __future__ import annotations

import anyio

from asyncllm._exceptions import (
    APITimeoutError,
)

from .errors import _Call, _timeout
from .settings import HTTPSettings


class _Deadlines:
    """A call's total deadline and the current attempt's first-chunk deadline.

    Moving an active scope's deadline costs a timer reschedule, so idle deadlines are renewed
    lazily: only once the renewal would move them by more than ``gap`` (5% of the idle
    timeout, at most 1 s). An idle timeout can thus fire up to that much early.
    """

    __slots__ = ("first", "gap", "idle", "s", "total")

    def __init__(self, s: HTTPSettings) -> None:
        self.s = s
        self.total = anyio.current_time() + s.total_timeout if s.total_timeout is not None else float("inf")
        self.first = self.total
        self.idle = s.idle_timeout
        self.gap = min(1.0, s.idle_timeout * 0.05)

    def start_attempt(self) -> anyio.CancelScope:
        """A scope for one attempt; the first-chunk clock starts now."""
        self.first = anyio.current_time() + self.s.first_chunk_timeout
        return anyio.CancelScope(deadline=min(self.first, self.total))

    def renew(self, scope: anyio.CancelScope, phase_change: bool = False) -> None:
        """Data arrived: move the scope's deadline to now + idle (capped by the total).

        Between chunks it only ever moves later; when the headers arrive (``phase_change``)
        it may also move earlier, from the first-chunk deadline to the idle one.
        """
        want = min(anyio.current_time() + self.idle, self.total)
        delta = want - scope.deadline
        if delta > self.gap or (phase_change and -delta > self.gap):
            scope.deadline = want

    def idle_scope(self) -> anyio.CancelScope:
        return anyio.CancelScope(deadline=min(anyio.current_time() + self.idle, self.total))

    def error(self, call: _Call, scope: anyio.CancelScope, phase: str) -> APITimeoutError:
        kind = "total" if scope.deadline >= self.total else phase
        s = self.s
        secs = {"first_chunk": s.first_chunk_timeout, "idle": s.idle_timeout, "total": s.total_timeout}[kind]
        return _timeout(call, kind, secs)
