"""The four deadlines of a call (connect, first chunk, idle, total) as times on the event loop's
clock, handed to the transport (``_http_answer``: a transport keeps them natively where that is
cheaper than an anyio cancel scope per read).
"""

from __future__ import annotations

import anyio

from asyncllm._exceptions import (
    APITimeoutError,
)

from .errors import _Call, _timeout
from .pools import _now
from .settings import HTTPSettings

#: A deadline that fires this close to the total one is reported as the total timeout (a timer
#: may run a hair before its time, and both have passed then anyway).
_TOTAL_SLACK = 0.005


class _Deadlines:
    """A call's total deadline and the current attempt's first-chunk deadline.

    Where ``_http`` holds one cancel scope for a whole attempt (a transport without deadlines of
    its own), :meth:`renew` moves it on as data arrives, lazily: moving an armed deadline costs a
    timer reschedule, so only once it would move by more than ``gap`` (5% of the idle timeout, at
    most 1 s). An idle timeout may thus fire up to that much early there.
    """

    __slots__ = ("_t0", "first", "gap", "idle", "s", "total")

    def __init__(self, s: HTTPSettings) -> None:
        self.s = s
        # One reading of the clock serves the total deadline and the first attempt's.
        now = _now()
        self._t0: float | None = now
        self.total = now + s.total_timeout if s.total_timeout is not None else float("inf")
        self.first = self.total
        self.idle = s.idle_timeout
        self.gap = min(1.0, s.idle_timeout * 0.05)

    def start_attempt(self) -> float:
        """The deadline for a new attempt's headers (its first-chunk clock starts now), capped by
        the total deadline."""
        now, self._t0 = self._t0, None
        self.first = (_now() if now is None else now) + self.s.first_chunk_timeout
        return min(self.first, self.total)

    def renew(self, scope: anyio.CancelScope, phase_change: bool = False) -> None:
        """Data arrived: move the attempt's scope to now + idle (capped by the total deadline).

        Between chunks it only ever moves later; when the headers arrive (``phase_change``) it
        may also move earlier, from the first-chunk deadline to the idle one.
        """
        want = min(_now() + self.idle, self.total)
        delta = want - scope.deadline
        if delta > self.gap or (phase_change and -delta > self.gap):
            scope.deadline = want

    def error(self, call: _Call, phase: str) -> APITimeoutError:
        """The timeout a passed deadline of ``phase`` means (the total one when it has passed)."""
        kind = "total" if _now() + _TOTAL_SLACK >= self.total else phase
        s = self.s
        secs = {"first_chunk": s.first_chunk_timeout, "idle": s.idle_timeout, "total": s.total_timeout}[kind]
        return _timeout(call, kind, secs)
