"""Progress people can see for long work: a bar on a terminal, plain lines otherwise, nothing when off.

::

    with progress("finetune.cpu_lora", total=12, unit="step") as p:
        p.update(loss=2.31)          # one step done, with what to show beside it
        p.note("writing GGUF")       # a phase
    with progress("starting llamacpp"):  # no total: the elapsed time, ticking
        ...

The mode is the ``progress`` setting (``ASYNCLLM_PROGRESS``): ``auto`` (default: a bar when stderr
is an interactive terminal, else plain lines), ``bar``, ``plain`` or ``off``. Work that ends
within ``delay`` seconds (2) shows nothing at all. Plain lines go to stderr at most once every
``interval`` seconds (10) per task, plus one when it ends::

    asyncllm: finetune.cpu_lora: 6/12 steps, loss 1.92 [40 s, ETA 40 s]
    asyncllm: finetune.cpu_lora: 12/12 steps, loss 0.88 [80 s, done]

Bars are tqdm's (a light, pure-Python dependency that keeps several concurrent bars apart on one
terminal; see pyproject.toml). One daemon thread refreshes every open display once a second,
so the elapsed time and the ETA move while the event loop waits on a subprocess; all display
state is behind a lock. Nothing here touches the event loop, so it works the same on asyncio
and trio, and from worker threads.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any, Self, TextIO

from ._config import config
from ._exceptions import ConfigError

__all__ = ["MODES", "Progress", "mode", "progress"]

MODES = ("auto", "bar", "plain", "off")
DELAY = 2.0
INTERVAL = 10.0


def mode(stream: TextIO | None = None) -> str:
    """``bar``, ``plain`` or ``off``: the setting, with ``auto`` decided by ``stream``'s tty-ness."""
    value = str(config.get("progress", "auto") or "auto").strip().lower()
    if value not in MODES:
        raise ConfigError(f"ASYNCLLM_PROGRESS={value!r}: use one of {', '.join(MODES)}")
    if value != "auto":
        return value
    stream = stream or sys.stderr
    try:
        return "bar" if stream.isatty() else "plain"
    except (AttributeError, ValueError):  # a replaced or closed stderr
        return "plain"


def _seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s"
    m, sec = divmod(int(s), 60)
    return f"{m} min {sec:02d} s" if m < 60 else f"{m // 60} h {m % 60:02d} min"


def _fields(fields: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in fields.items())


class Progress:
    """One piece of long work on the display; see the module docstring. Thread-safe."""

    def __init__(self, desc: str, *, total: int | None = None, unit: str = "it", delay: float | None = None,
                 interval: float | None = None, stream: TextIO | None = None, display: str | None = None) -> None:
        self.desc = desc
        self.total = total
        self.unit = unit
        self.n = 0
        self.fields: dict[str, Any] = {}
        self.status = ""
        self.delay = DELAY if delay is None else delay
        self.interval = INTERVAL if interval is None else interval
        self.stream = stream or sys.stderr
        self.display = display or mode(self.stream)
        self.started = time.monotonic()
        self._first: tuple[float, int] | None = None  # (time, n) of the first update: the ETA's origin
        self._printed = 0.0  # when the last plain line went out (0: never)
        self._closed = False
        self._lock = threading.Lock()
        self._bar: Any = None
        if self.display == "bar":
            self._bar = self._make_bar()
        if self.display != "off":
            _ticker.add(self)

    def _make_bar(self) -> Any:
        try:
            from tqdm import tqdm
        except ImportError:  # pragma: no cover - tqdm is a dependency; a broken install still gets lines
            self.display = "plain"
            return None
        fmt = None if self.total else "{desc} {elapsed}{postfix}"
        try:
            sized = os.get_terminal_size(self.stream.fileno()).columns > 0
        except (AttributeError, OSError, ValueError):
            sized = False
        # delay: nothing shows for short work; miniters=0: every tick may redraw; smoothing=0: the
        # rate (and ETA) is the count over the bar's whole time, which the ticks between slow
        # steps (fine-tune steps take seconds) leave alone. A terminal that reports no width (a
        # fresh pseudo-terminal) gets 100 columns rather than none.
        return tqdm(total=self.total, desc=self.desc, unit=self.unit, file=self.stream, delay=self.delay,
                    mininterval=0.5, miniters=0, smoothing=0, leave=True, bar_format=fmt, dynamic_ncols=sized,
                    ncols=None if sized else 100)

    # -- what callers report ----------------------------------------------------------------------

    def update(self, n: int = 1, **fields: Any) -> None:
        """``n`` more units done; ``fields`` (e.g. ``loss=1.9``) are shown beside the count."""
        with self._lock:
            if self._closed:
                return
            if self._first is None:
                self._first = (time.monotonic(), self.n)
            self.n += n
            self.fields.update(fields)
            if self._bar is not None:
                if fields:
                    self._bar.set_postfix_str(_fields(self.fields), refresh=False)
                self._bar.update(n)
            else:
                self._maybe_print()

    def note(self, status: str) -> None:
        """A phase of the work ("loading the model"), shown until the next note."""
        with self._lock:
            if self._closed:
                return
            self.status = status
            if self._bar is not None:
                self._bar.set_description_str(f"{self.desc} ({status})" if status else self.desc, refresh=False)
                self._bar.update(0)
            else:
                self._maybe_print()

    def tick(self) -> None:
        """Refresh the elapsed time (the ticker thread calls this once a second)."""
        with self._lock:
            if self._closed:
                return
            if self._bar is not None:
                self._bar.update(0)
            else:
                self._maybe_print()

    def close(self, status: str | None = None) -> None:
        """The work ended (``status``: how, e.g. "failed"); the last line is shown if any was."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if status is not None:
                self.status = status
            if self._bar is not None:
                if status:
                    self._bar.set_description_str(f"{self.desc} ({status})", refresh=False)
                self._bar.close()
            elif self.display == "plain" and (self._printed or self.elapsed >= self.delay):
                self._write(done=True)
        _ticker.discard(self)

    # -- plain lines ------------------------------------------------------------------------------

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def eta(self) -> float | None:
        """Seconds left at the rate since the first update (not counting set-up before it)."""
        if not self.total or self._first is None or self.n <= self._first[1]:
            return None
        t0, n0 = self._first
        rate = (self.n - n0) / max(time.monotonic() - t0, 1e-9)
        return max(self.total - self.n, 0) / rate if rate > 0 else None

    def line(self, *, done: bool = False) -> str:
        parts = [f"asyncllm: {self.desc}"]
        if self.status:
            parts[0] += f" ({self.status})"
        what = []
        if self.total:
            what.append(f"{self.n}/{self.total} {self.unit}")
        elif self.n:
            what.append(f"{self.n} {self.unit}")
        if self.fields:
            what.append(_fields(self.fields))
        timing = _seconds(self.elapsed)
        if done:
            timing += ", done"
        elif (eta := self.eta()) is not None and math.isfinite(eta):
            timing += f", ETA {_seconds(eta)}"
        return f"{parts[0]}: {', '.join(what)} [{timing}]" if what else f"{parts[0]} [{timing}]"

    def _maybe_print(self) -> None:
        if self.display != "plain" or self.elapsed < self.delay:
            return
        now = time.monotonic()
        if not self._printed or now - self._printed >= self.interval:
            self._write()

    def _write(self, *, done: bool = False) -> None:
        self._printed = time.monotonic()
        try:
            self.stream.write(self.line(done=done) + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed or broken stderr must not break the work
            pass

    # -- context manager --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close(None if et is None else ("cancelled" if not isinstance(exc, Exception) else "failed"))

    def __repr__(self) -> str:
        return f"<Progress {self.desc!r} {self.n}/{self.total} {self.display}>"


def progress(desc: str, *, total: int | None = None, unit: str = "it", **kw: Any) -> Progress:
    """A :class:`Progress` in the configured mode (use it as a context manager)."""
    return Progress(desc, total=total, unit=unit, **kw)


class _Ticker:
    """One daemon thread that ticks every open display once a second, and exits when none is open."""

    def __init__(self) -> None:
        self._open: set[Progress] = set()
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None

    def add(self, p: Progress) -> None:
        with self._lock:
            self._open.add(p)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="asyncllm-progress", daemon=True)
                self._thread.start()

    def discard(self, p: Progress) -> None:
        with self._lock:
            self._open.discard(p)
            if not self._open:
                self._wake.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                self._wake.wait(timeout=1.0)
                if not self._open:
                    self._thread = None
                    return
                displays = list(self._open)
            for p in displays:
                p.tick()


_ticker = _Ticker()
