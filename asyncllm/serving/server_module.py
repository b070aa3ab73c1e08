"""``ServerModule``: serve a module over HTTP and call it like a local one.

``ServerModule(m, ...)`` serves ``m`` (a module, flow or any callable) with a launcher —
in-process by default, a subprocess, Ray or Slurm — when started: ``await s.start()`` returns
once ``/health`` answers, ``s.url`` is its base URL, ``await s(x)`` calls it, ``s.stream(x)``
streams it, ``await s.stop()`` or ``async with s:`` ends it. The calling side is
:class:`UrlModule`'s (client.py); ``ServerModule(url=...)`` / ``ServerModule("http://...")``
attach without deploying anything, exactly like ``UrlModule``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any, Self

from .._exceptions import APIError, ConfigError
from .._http import HTTPSettings, aclose_origin
from .._importpath import resolve
from .._status import Status
from ..modules.base import ModuleBase
from ..modules.lifecycle import post_order
from .client import UrlModule
from .errors import ServerLostError
from .launchers import InProcessLauncher, ServerSpec, get_launcher
from .options import ServerOptions

__all__ = ["ServerModule"]


class ServerModule(UrlModule):
    """Serve ``m`` over HTTP (or attach to ``url``); see the module docstring."""

    _spec: ServerSpec

    def __init__(
        self,
        m: Any = None,
        pre: Callable[..., Any] | None = None,
        post: Callable[..., Any] | None = None,
        stream: bool | None = None,
        return_trace: bool = False,
        port: int | None = None,
        pythonpath: str | list[str] | None = None,
        launcher: Any = None,
        url: str | None = None,
        security_key: str | bool | None = None,
        *,
        options: ServerOptions | None = None,
        settings: HTTPSettings | None = None,
        idempotent: bool = False,
        name: str | None = None,
        **server_options: Any,
    ) -> None:
        """The seed's arguments (in the seed's order; ``pythonpath``: extra import folders for a
        server in another process), then ``options`` (a :class:`ServerOptions`) for every
        server setting; single settings may also be given as keywords (``request_timeout=30``,
        ``host=...``), which override ``options``."""
        if isinstance(m, str) and "://" in m:
            if url is not None:
                raise ConfigError("pass the server's URL once: ServerModule('http://...') or ServerModule(url=...)")
            url, m = m, None
        if url and m is not None:
            raise ConfigError("ServerModule takes a module to serve or the url of a running server, not both")
        if not url and m is None:
            raise ConfigError("ServerModule needs something to serve (m) or the url of a running server (url=)")
        if security_key is True:
            security_key = "sk-" + secrets.token_hex(24)
        elif security_key is False:
            security_key = None
        opts = options or ServerOptions()
        if port is not None:
            server_options["port"] = port
        if security_key is not None:
            server_options["security_key"] = security_key
        if name is not None and opts.model_name is None:
            server_options.setdefault("model_name", name)
        opts = opts.replace(**server_options)
        super().__init__(url=url or "", stream=stream, return_trace=return_trace, security_key=opts.security_key,
                         settings=settings, idempotent=idempotent, name=name)
        self._launcher = get_launcher(launcher) if m is not None else None
        if isinstance(m, str) and isinstance(self._launcher, InProcessLauncher):
            m = resolve(m)  # an import path served in this process: import it here
        if isinstance(m, ModuleBase) and isinstance(self._launcher, InProcessLauncher):
            self._m = m  # registered: the lifecycle deploys (and stops) what we serve
        else:
            self.__dict__["_m"] = m  # a subprocess deploys its own copy; nothing to do here
        paths = (pythonpath,) if isinstance(pythonpath, str) else tuple(pythonpath or ())
        self.__dict__["_spec"] = ServerSpec(target=m, pre=pre, post=post, options=opts, pythonpath=paths)
        self.__dict__["_stopped"] = False
        self.__dict__["_app"] = None

    @property
    def server_options(self) -> ServerOptions:
        """The server's settings (see :class:`ServerOptions`)."""
        return self._spec.options

    def prompt(self, prompt: Any = None, history: Any = None) -> Self:
        """The seed's ``prompt()`` on a served LLM: set on the module this server serves (before
        ``start()``; an in-process server, or a subprocess one that is handed the object)."""
        target = self._spec.target
        if isinstance(target, str) or not callable(getattr(target, "prompt", None)):
            raise ConfigError(f"{self.display_name} serves {target!r}, which has no prompt() here: set the "
                              "prompt on the LLM module itself before serving it")
        if self._url and not isinstance(self._launcher, InProcessLauncher):
            raise ConfigError(f"{self.display_name} already runs in another process: set the prompt before start()")
        target.prompt(prompt, history)
        return self

    @property
    def security_key(self) -> str | None:
        """The bearer key clients must send (None: no key). Never printed in reprs or logs."""
        return self.__dict__["_security_key"]  # type: ignore[no-any-return]

    @property
    def launcher(self) -> Any:
        return self._launcher

    @property
    def status(self) -> Status:
        """PENDING until started, RUNNING while its server runs, CANCELLED once stopped, DONE or
        FAILED when the server ended on its own (an attached one is RUNNING: it is not ours)."""
        if self._attached:
            return Status.RUNNING
        if self._launcher is None or not self._url:
            return Status.CANCELLED if self.__dict__["_stopped"] else Status.PENDING
        if getattr(self._launcher, "running", True):
            return Status.RUNNING
        code = getattr(getattr(self._launcher, "_proc", None), "returncode", None)
        return Status.FAILED if code not in (None, 0) else Status.DONE

    @property
    def app(self) -> Any:
        """The served module as a plain ASGI app (to mount in your own server)."""
        if self._m is None:
            raise ConfigError("an attached ServerModule (url=...) serves nothing itself; it has no app")
        if self.__dict__["_app"] is None:
            self.__dict__["_app"] = self._spec.build_app()
        return self.__dict__["_app"]

    def _get_deploy_tasks(self) -> Any:
        if self._attached or self._launcher is None:
            return None
        return self._launch

    async def _launch(self) -> None:
        assert self._launcher is not None
        self._url = await self._launcher.launch(self._spec)
        if isinstance(self._m, ModuleBase) and isinstance(self._launcher, InProcessLauncher):
            self._remote_ids = frozenset(x.id for x in post_order(self._m))

    async def _stop_impl(self) -> None:
        if self._attached or self._launcher is None:
            return
        url = self._url
        try:
            await self._launcher.stop()
        finally:
            self.__dict__["_stopped"] = True
            self._url = ""
            self._remote_ids = None
            if url:
                await aclose_origin(url)  # our pooled connections to it: nobody answers there any more

    async def _wait_impl(self) -> None:
        if self._launcher is not None and not self._attached:
            await self._launcher.wait()

    async def _lost(self, exc: APIError, url: str) -> ServerLostError | None:
        # A Ray replica or Slurm job that died mid-call shows here as a bare 5xx or a broken
        # connection; the launcher's handle knows what happened to it.
        explain = getattr(self._launcher, "failure_cause", None)
        cause = await explain() if explain is not None and not self._attached else None
        if not cause:
            return None
        again = "" if self._settings.idempotent else " (the module is not declared idempotent)"
        return ServerLostError(f"the server of {self.display_name} at {url} was lost while the call ran: {cause}; "
                               f"the call was not sent again{again}", cause=cause, url=url,
                               status_code=getattr(exc, "status_code", 0))
