"""``parallel`` (same input to every branch), ``diverter`` (input i to branch i) and ``warp``
(one pipeline over every input), all on one anyio task group.

The first failing branch cancels its siblings; cancelling the flow cancels every branch.
Results keep branch order and come back as a ``package`` unless post-processed with
``.sum``, ``.join(sep)``, ``.asdict``, ``.astuple``, ``.aslist``. ``.sequential`` runs the
branches one by one; ``.limit(n)`` (or ``_limit=n``) bounds how many run at once.
Keyword arguments go to every branch.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Any, Self

from .._concurrency import gather
from .._exceptions import ConfigError
from .._types import package
from .base import FlowBase
from .pipeline import Pipeline

__all__ = ["Diverter", "Parallel", "Warp", "diverter", "parallel", "warp"]


class Parallel(FlowBase):
    def __init__(
        self,
        *items: Any,
        _limit: int | None = None,
        _sequential: bool = False,
        _name: str | None = None,
        **named_items: Any,
    ) -> None:
        super().__init__(*items, _name=_name, **named_items)
        if _limit is not None and _limit < 1:
            raise ConfigError(f"parallel limit must be >= 1, got {_limit}")
        self._limit = _limit
        self._sequential = _sequential
        self._post: Callable[[list[Any]], Any] | None = None
        self._skip: set[int] = set()
        self._keep: set[int] | None = None

    # -- post-processing builders (properties, as in the seed) -------------------------------

    @property
    def sequential(self) -> Self:
        self._sequential = True
        return self

    def limit(self, n: int) -> Self:
        if n < 1:
            raise ConfigError(f"parallel limit must be >= 1, got {n}")
        self._limit = n
        return self

    @property
    def sum(self) -> Self:
        self._post = lambda values: functools.reduce(operator.add, values)
        return self

    def join(self, sep: str = "") -> Self:
        self._post = lambda values: sep.join(str(v) for v in values)
        return self

    @property
    def asdict(self) -> Self:
        names = self._kept_names()
        if any(n is None for n in names):
            raise ConfigError("parallel(...).asdict needs every branch named: parallel(a=f, b=g).asdict")
        self._post = lambda values: dict(zip(self._kept_names(), values, strict=True))
        return self

    @property
    def astuple(self) -> Self:
        self._post = tuple
        return self

    @property
    def aslist(self) -> Self:
        self._post = list
        return self

    def skip(self, *keys: int | str) -> Self:
        """Run these branches but leave their outputs out of the result."""
        self._skip |= {self._index_of(k) for k in keys}
        return self

    def keep(self, *keys: int | str) -> Self:
        """Keep only these branches' outputs in the result."""
        self._keep = {self._index_of(k) for k in keys}
        return self

    def _kept(self) -> list[int]:
        return [
            i for i in range(len(self._items))
            if i not in self._skip and (self._keep is None or i in self._keep)
        ]

    def _kept_names(self) -> list[str | None]:
        return [self._item_names[i] for i in self._kept()]

    # -- running -----------------------------------------------------------------------------

    def _inputs(self, value: Any) -> list[Any]:
        return [value] * len(self._items)

    async def _run_branches(self, inputs: list[Any], kw: dict[str, Any]) -> list[Any]:
        if self._sequential:
            return [await self._call_item(i, v, kw) for i, v in enumerate(inputs)]
        jobs = [functools.partial(self._call_item, i, v, kw) for i, v in enumerate(inputs)]
        return await gather(jobs, limit=self._limit)

    async def forward(self, *args: Any, **kw: Any) -> Any:
        value = self._pack(args) if args else package()
        outputs = await self._run_branches(self._inputs(value), kw)
        kept = [outputs[i] for i in self._kept()]
        if self._post is not None:
            return self._post(kept)
        return package(kept)


class Diverter(Parallel):
    """Branch i gets input i: ``diverter(f, g)(a, b)`` → ``package(f(a), g(b))``."""

    def _inputs(self, value: Any) -> list[Any]:
        values = list(value) if isinstance(value, (package, list, tuple)) else [value]
        if len(values) != len(self._items):
            raise ConfigError(f"diverter has {len(self._items)} branches but got {len(values)} inputs")
        return values


class Warp(Parallel):
    """One pipeline of the items, run over every input concurrently: ``warp(f)(1, 2, 3)``."""

    def __init__(self, *items: Any, _limit: int | None = None, _name: str | None = None, **named: Any) -> None:
        super().__init__(*items, _limit=_limit, _name=_name, **named)
        body = self._items[0] if len(self._items) == 1 and isinstance(self._items[0], FlowBase) else None
        self.__dict__["_body"] = body or Pipeline(*self._items)  # not a submodule: its items already are

    async def forward(self, *args: Any, **kw: Any) -> Any:
        value = self._pack(args) if args else package()
        values = list(value) if isinstance(value, (package, list, tuple)) else [value]
        if self._sequential:
            outputs = [await self._body(v, **kw) for v in values]
        else:
            jobs = [functools.partial(self._body, v, **kw) for v in values]
            outputs = await gather(jobs, limit=self._limit)
        if self._post is not None:
            return self._post(outputs)
        return package(outputs)


parallel = Parallel
diverter = Diverter
warp = Warp
