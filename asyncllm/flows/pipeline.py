"""``pipeline``: items run one after another, each output feeding the next item.

Keyword arguments given to the pipeline go to its first item only.
"""

from __future__ import annotations

from typing import Any

from .._types import package
from .base import FlowBase

__all__ = ["Pipeline", "pipeline"]


class Pipeline(FlowBase):
    async def forward(self, *args: Any, **kw: Any) -> Any:
        value: Any = self._pack(args) if args else package()
        for i in range(len(self._items)):
            value = await self._call_item(i, value, kw if i == 0 else {})
        return value


pipeline = Pipeline
