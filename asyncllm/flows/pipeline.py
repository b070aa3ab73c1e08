"""``pipeline``: items run one after another, each output feeding the next item.

Keyword arguments given to the pipeline go to its first item only.
"""

from __future__ import annotations

from typing import Any

from .. import _context as _ctx
from .._context import _session as _current_session
from .._types import kwargs, package
from ..modules.base import ModuleBase
from .base import FlowBase

# A module item whose class calls through this (not a subclass's own ``__call__``, not the
# traced one ``al.instrument()`` installs) may be stepped inline: see Pipeline.forward.
_MODULE_CALL = ModuleBase.__call__

__all__ = ["Pipeline", "pipeline"]


class Pipeline(FlowBase):
    async def forward(self, *args: Any, **kw: Any) -> Any:
        value: Any = self._pack(args) if args else package()
        # Until a session is bound somewhere in the process none can be bound here (_context.py).
        sess = _current_session.get() if _ctx.sessions_seen else None
        inline = self._inline if ModuleBase.__call__ is _MODULE_CALL else ()
        for i, item in enumerate(self._items):
            if sess is None and i in inline and item._plain and (i or not kw) \
                    and (tv := type(value)) is not package and tv is not kwargs:
                # ModuleBase.__call__'s fast path, inlined: awaiting the item's forward here saves
                # a coroutine a step (benchmarks/core_overhead.py), with the same error, note
                # and usage rules as the call would apply.
                try:
                    value = await item.forward(value)
                except Exception as exc:
                    raise item._wrap_error(exc) from item._wrap_cause(exc)
                if _ctx.sessions_seen:  # the item may have bound one (al.current_session())
                    sess = item._end_usage()
                continue
            if isinstance(item, ModuleBase) and (tv := type(value)) is not package and tv is not kwargs:
                # A module wraps its own errors and spans its own call (tracing gives module
                # items no item span), so _call_item would only add a coroutine.
                try:
                    value = await (item(value, **kw) if i == 0 else item(value))
                except Exception as exc:
                    raise self._item_error(i, exc) from self._item_cause(exc)
            else:
                value = await self._call_item(i, value, kw if i == 0 else {})
            sess = _current_session.get() if _ctx.sessions_seen else None  # the item may have opened one
        return value


pipeline = Pipeline
