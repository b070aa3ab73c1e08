"""The Ray Serve deployment that serves a module: one replica = one copy of the served module.

Imported only where Ray Serve is installed (the replica workers and the driver of
``launchers.ray``). The deployment receives a JSON-able config naming the served object by
import path (``pkg.mod:obj``) — the replica imports it, starts its lifecycle, and serves the
same ASGI app as a local server (``create_app``: wire protocol, SSE streaming, OpenAI face)
behind Ray's HTTP proxy. The ASGI app is built late, in the replica
(``__serve_build_asgi_app__``), so no module object is pickled by us.
"""

from __future__ import annotations

import sys
from typing import Any

from ray import serve

__all__ = ["ServedModuleDeployment"]


class _ServedModule:
    async def __init__(self, config: dict[str, Any]) -> None:  # type: ignore[misc]  # Serve awaits it
        from .._importpath import resolve
        from ..modules.base import ModuleBase

        for p in reversed(config.get("sys_path", [])):
            if p not in sys.path:
                sys.path.insert(0, p)
        self._config = config
        self._target = resolve(config["target"])
        self._pre = resolve(config["pre"]) if config.get("pre") else None
        self._post = resolve(config["post"]) if config.get("post") else None
        if isinstance(self._target, ModuleBase):
            await self._target.start()

    def __serve_build_asgi_app__(self) -> Any:
        from ..serving.app import create_app
        from ..serving.options import ServerOptions

        # Ray's proxy owns the socket: of the options, host/port/timeouts of the listener do not apply.
        return create_app(self._target, pre=self._pre, post=self._post,
                          options=ServerOptions.from_spec(self._config["options"]))

    async def __del__(self) -> None:
        from .._http import aclose_all
        from ..modules.base import ModuleBase

        target = getattr(self, "_target", None)
        try:
            if isinstance(target, ModuleBase):
                await target.stop()
        finally:
            await aclose_all()


ServedModuleDeployment: Any = serve.deployment(name="asyncllm_served")(serve.ingress()(_ServedModule))
