"""Serving: any module over HTTP (starlette + hypercorn), and the clients that call it.

``ServerModule`` / ``UrlModule`` (client.py), ``create_app`` (app.py, a plain ASGI app),
launchers (in-process thread loop, subprocess), the ``@remote_method`` / ``@route``
markers, and the JSON wire format (wire.py). starlette and hypercorn are imported only
inside this package, so ``import asyncllm`` does not pay for them.
"""

from .app import ServedApp, create_app
from .client import ServerModule, UrlModule
from .errors import ServedModuleError
from .launchers import InProcessLauncher, ServerSpec, SubprocessLauncher, serve
from .markers import remote_method, route
from .wire import WireError

__all__ = [
    "InProcessLauncher",
    "ServedApp",
    "ServedModuleError",
    "ServerModule",
    "ServerSpec",
    "SubprocessLauncher",
    "UrlModule",
    "WireError",
    "create_app",
    "remote_method",
    "route",
    "serve",
]
