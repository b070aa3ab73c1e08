"""``ActionModule``: turn callables or a flow into a module, so the lifecycle reaches every
module inside the flow (``ActionModule(flow).start()`` deploys them all).

It lives with the flows because it is made of one: ``modules/`` stays below ``flows/``."""

from __future__ import annotations

from typing import Any

from ..modules.base import ModuleBase
from .base import FlowBase
from .pipeline import Pipeline

__all__ = ["ActionModule"]


class ActionModule(ModuleBase):
    action: FlowBase  # (in __dict__ directly: reached through submodules, not registered)

    def __init__(self, *action: Any, return_trace: bool = False, name: str | None = None) -> None:
        super().__init__(return_trace=return_trace, name=name)
        if not action:
            raise TypeError("ActionModule needs at least one callable or a flow")
        flow = action[0] if len(action) == 1 and isinstance(action[0], FlowBase) else Pipeline(*action)
        self.__dict__["action"] = flow  # reached through submodules below, not registered directly

    async def forward(self, *args: Any, **kw: Any) -> Any:
        return await self.action(*args, **kw)

    @property
    def submodules(self) -> list[ModuleBase]:
        """Every module inside the (nested) flow; flows themselves are looked through."""
        found: list[ModuleBase] = []
        seen: set[int] = set()

        def walk(flow: FlowBase) -> None:
            for item in flow.items:
                if isinstance(item, FlowBase):
                    walk(item)
                elif isinstance(item, ModuleBase) and id(item) not in seen:
                    seen.add(id(item))
                    found.append(item)

        walk(self.action)
        return found

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "return_trace": self._return_trace}
