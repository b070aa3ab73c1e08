"""Control flows: ``switch`` (first matching case), ``ifs`` (if/else) and ``loop`` (repeat).

``switch(cond1, path1, cond2, path2, ..., 'default', path)``: a condition is a callable of the
input (truthy → match) or a value compared with ``==``. With ``judge_on_full_input=False``
the input is ``package(key, *rest)``: ``key`` is judged, ``rest`` goes to the path.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

from .._concurrency import call_any
from .._exceptions import ConfigError
from .._types import package
from .base import FlowBase, invoke
from .pipeline import Pipeline

__all__ = ["IFS", "Loop", "Switch", "ifs", "loop", "switch"]


async def _judge(cond: Any, value: Any) -> bool:
    if callable(cond):
        out = cond(*value) if isinstance(value, package) else cond(value)
        if inspect.isawaitable(out):
            out = await out
        return bool(out)
    return bool(cond == value)


class Switch(FlowBase):
    def __init__(self, *args: Any, judge_on_full_input: bool = True, _name: str | None = None, **named: Any) -> None:
        if named:
            args = args + tuple(x for pair in named.items() for x in pair)
        if len(args) % 2:
            raise ConfigError("switch takes (condition, path) pairs: switch(c1, f1, c2, f2, 'default', f)")
        self._conds = list(args[0::2])
        super().__init__(*args[1::2], _name=_name)
        self._judge_on_full_input = judge_on_full_input

    async def forward(self, *args: Any, **kw: Any) -> Any:
        value = self._pack(args) if args else package()
        key, rest = value, value
        if not self._judge_on_full_input:
            if not isinstance(value, package) or len(value) < 2:
                raise ConfigError("switch(judge_on_full_input=False) needs package(key, input...)")
            key, rest = value[0], self._pack(tuple(value[1:]))
        for i, cond in enumerate(self._conds):
            if (isinstance(cond, str) and cond == "default") or await _judge(cond, key):
                return await self._call_item(i, rest, kw)
        raise ConfigError(f"switch: no case matched {key!r} and there is no 'default' case")


class IFS(FlowBase):
    """``ifs(cond, true_path, false_path)``."""

    def __init__(self, cond: Callable[..., Any], tpath: Any, fpath: Any, *, _name: str | None = None) -> None:
        if not callable(cond):
            raise ConfigError("ifs(cond, tpath, fpath): cond must be callable")
        super().__init__(tpath, fpath, _name=_name)
        self._cond = cond

    async def forward(self, *args: Any, **kw: Any) -> Any:
        value = self._pack(args) if args else package()
        return await self._call_item(0 if await _judge(self._cond, value) else 1, value, kw)


class Loop(FlowBase):
    """Run the items as a pipeline again and again on its own output.

    Stops after ``count`` rounds or once ``stop_condition(output)`` is true (checked after each
    round); at least one of the two is required.
    """

    def __init__(
        self,
        *items: Any,
        count: int | None = None,
        stop_condition: Callable[..., Any] | None = None,
        judge_on_full_input: bool = True,
        _name: str | None = None,
        **named: Any,
    ) -> None:
        if count is None and stop_condition is None:
            raise ConfigError("loop needs count=N or stop_condition=f, or it would never end")
        if count is not None and count < 1:
            raise ConfigError(f"loop count must be >= 1, got {count}")
        super().__init__(*items, _name=_name, **named)
        body = self._items[0] if len(self._items) == 1 and isinstance(self._items[0], FlowBase) else None
        self.__dict__["_body"] = body or Pipeline(*self._items)  # not a submodule: its items already are
        self._count = math.inf if count is None else count
        self._stop = stop_condition
        self._judge_on_full_input = judge_on_full_input

    async def forward(self, *args: Any, **kw: Any) -> Any:
        value = self._pack(args) if args else package()
        rounds = 0
        while rounds < self._count:
            value = await invoke(self._body, value, kw)
            kw = {}
            rounds += 1
            if self._stop is not None:
                key = value
                if not self._judge_on_full_input and isinstance(value, package) and value:
                    key = value[0]
                if await call_any(self._stop, key):
                    break
        return value


switch = Switch
ifs = IFS
loop = Loop
