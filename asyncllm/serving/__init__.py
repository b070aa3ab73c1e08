"""Serving: any module over HTTP (starlette + hypercorn), and the clients that call it.

``ServerModule`` / ``UrlModule`` (client.py), ``create_app`` (app.py, a plain ASGI app),
launchers (in-process thread loop, subprocess), the ``@remote_method`` / ``@route``
markers, and the JSON wire format (wire.py). starlette and hypercorn are imported only
inside this package, and only when one of these names is first used, so neither
``import asyncllm`` nor the CLI's argument parsing pays for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .app import ServedApp, create_app
    from .client import UrlModule
    from .errors import ServedModuleError, ServerLostError
    from .launchers import InProcessLauncher, ServerSpec, SubprocessLauncher, serve
    from .markers import remote_method, route
    from .options import CallerPolicy, ServerOptions
    from .server_module import ServerModule
    from .wire import WireError

_WHERE = {
    "ServedApp": "app", "create_app": "app",
    "ServerModule": "server_module", "UrlModule": "client",
    "ServedModuleError": "errors", "ServerLostError": "errors",
    "InProcessLauncher": "launchers", "ServerSpec": "launchers", "SubprocessLauncher": "launchers",
    "serve": "launchers",
    "remote_method": "markers", "route": "markers",
    "ServerOptions": "options", "CallerPolicy": "options",
    "WireError": "wire",
}

__all__ = [
    "CallerPolicy",
    "InProcessLauncher",
    "ServedApp",
    "ServedModuleError",
    "ServerLostError",
    "ServerModule",
    "ServerOptions",
    "ServerSpec",
    "SubprocessLauncher",
    "UrlModule",
    "WireError",
    "create_app",
    "remote_method",
    "route",
    "serve",
]


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'asyncllm.serving' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{where}", __name__), name)
    globals()[name] = value
    return value
