"""``pipeline``: items run one after another, each output feeding the next item.

Keyword arguments given to the pipeline go to its first item only.
"""

from __future__ import annotations

from typing import Any

from .._types import kwargs, package
from ..modules.base import ModuleBase
from .base import FlowBase

__all__ = ["Pipeline", "pipeline"]


class Pipeline(FlowBase):
    async def forward(self, *args: Any, **kw: Any) -> Any:
        value: Any = self._pack(args) if args else package()
        for i, item in enumerate(self._items):
            if isinstance(item, ModuleBase) and not isinstance(value, (package, kwargs)):
                # The fast path: a module wraps its own errors and spans its own call (tracing
                # gives module items no item span), so _call_item would only add a coroutine.
                try:
                    value = await (item(value, **kw) if i == 0 else item(value))
                except Exception as exc:
                    raise self._item_error(i, exc) from self._item_cause(exc)
            else:
                value = await self._call_item(i, value, kw if i == 0 else {})
        return value


pipeline = Pipeline
