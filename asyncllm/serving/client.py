"""``UrlModule`` and ``ServerModule``: a module behind an HTTP server, called like a local one.

``UrlModule(url=...)`` attaches to a running server. ``ServerModule(m, ...)`` also serves
``m`` (a module, flow or any callable) with a launcher — in-process by default, or in a
subprocess — when started: ``await s.start()`` returns once ``/health`` answers, ``s.url``
is its base URL, ``await s(x)`` calls it, ``s.stream(x)`` streams it, ``await s.stop()`` or
``async with s:`` ends it. ``ServerModule(url=...)`` / ``ServerModule("http://...")`` attach
without deploying anything, exactly like ``UrlModule``.

A call sends the arguments as JSON (see wire.py) plus the caller's session context for the
modules the server serves (and only those); the server's usage comes back and is recorded
in the caller's session. When somebody streams (``s.stream(x)``, or a flow containing ``s``
being streamed) or ``stream=True``, the call uses SSE and each chunk reaches the caller as
it is produced, keeping the module name and tag it had on the server; cancelling the call
closes the connection, which cancels the work on the server.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

from .._context import Session, peek_session, record_usage
from .._exceptions import APIStatusError, ConfigError, LifecycleError, ProtocolError
from .._http import DEFAULT_SETTINGS, HTTPSettings, aclose_origin, request_json, stream_sse
from .._importpath import resolve
from ..modules.base import ModuleBase
from ..modules.lifecycle import post_order
from ..prompts.formatters import EmptyFormatter, FormatterBase, FormatterChain, as_formatter
from ..streaming.channel import Chunk, current_sink
from ._client_files import args_as_content, files_as_content
from .errors import error_from_body, served_error
from .launchers import InProcessLauncher, ServerSpec, get_launcher
from .options import ServerOptions
from .wire import SESSION_HEADER, encode_session, from_wire, to_wire

if TYPE_CHECKING:
    from ..launchers.base import Status

__all__ = ["ServerModule", "UrlModule"]


def _base_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"url must start with http:// or https://, got {url!r}")
    url = url.rstrip("/")
    return url[: -len("/generate")] if url.endswith("/generate") else url


# A served module may have side effects: a request the server may have started is never sent
# again (a broken connection after sending, an unmarked 5xx); connect failures and answers that
# say nothing ran (408, 429, x-should-retry: true) are still retried.
_SERVED_SETTINGS = dataclasses.replace(DEFAULT_SETTINGS, idempotent=False)


class UrlModule(ModuleBase):
    """A client of a served module at ``url`` (its base URL, or the ``.../generate`` URL).

    ``idempotent=True`` says the served module may safely run a request twice, so the client
    may re-send one after a broken connection or a 5xx; by default it never does.
    """

    def __init__(self, *, url: str = "", stream: bool = False, return_trace: bool = False,
                 security_key: str | None = None, settings: HTTPSettings | None = None,
                 idempotent: bool = False, name: str | None = None) -> None:
        super().__init__(return_trace=return_trace, name=name)
        self._stream = stream
        self.__dict__["_security_key"] = security_key
        settings = settings or _SERVED_SETTINGS
        self._settings = dataclasses.replace(settings, idempotent=True) if idempotent else settings
        self._formatter: FormatterBase = EmptyFormatter()
        self._url = _base_url(url) if url else ""
        self._remote_ids: frozenset[str] | None = None
        self._attached = bool(url)
        self._deployed = bool(url)

    @property
    def url(self) -> str:
        """The server's base URL ('' until started)."""
        return self._url  # type: ignore[no-any-return]

    @property
    def stream_mode(self) -> bool:
        return bool(self._stream)

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "url": self._url or None, "stream": self._stream or None}

    # -- request pieces ----------------------------------------------------------------------

    def _require_url(self) -> str:
        if not self._url:
            raise LifecycleError(f"{self.display_name} has no server yet: `await s.start()` it (or pass url=)")
        return self._url  # type: ignore[no-any-return]

    async def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        key = self.__dict__["_security_key"]
        if key:
            headers["authorization"] = f"Bearer {key}"
        sess = peek_session()
        if sess is not None and (sess.global_parameters or sess.chat_history or sess.files):
            payload = await self._session_payload(sess)
            if payload is not None:
                headers[SESSION_HEADER] = encode_session(payload)
        return headers

    async def _session_payload(self, sess: Session) -> dict[str, Any] | None:
        """Only the entries of modules the server serves travel (never the whole session)."""
        if self._remote_ids is None:
            info, _ = await request_json("GET", f"{self._require_url()}/info", headers=self._auth(),
                                         settings=self._settings)
            ids = info.get("module_ids") if isinstance(info, dict) else None
            self._remote_ids = frozenset(i for i in ids or () if isinstance(i, str))
        ids = self._remote_ids
        picked = {k: {i: v for i, v in getattr(sess, k).items() if i in ids}
                  for k in ("global_parameters", "chat_history", "files")}
        for mid, files in picked["files"].items():
            picked["files"][mid] = await files_as_content(files)
        if not any(picked.values()):
            return None
        return {"id": sess.id, **to_wire(picked, "session context")}

    def _auth(self) -> dict[str, str]:
        key = self.__dict__["_security_key"]
        return {"authorization": f"Bearer {key}"} if key else {}

    def _finish(self, data: Any) -> Any:
        if not isinstance(data, dict) or "output" not in data:
            raise ProtocolError(f"{self._url} answered without an 'output': {str(data)[:120]!r}", url=self._url)
        usage = data.get("usage")
        if isinstance(usage, dict):
            record_usage(self.id, usage, self._used_by_moduleid)
        out = from_wire(data["output"])
        return out if self._formatter.is_empty else self._formatter(out)

    # -- the seed's LLM builders on the served form --------------------------------------------

    def formatter(self, format: Any = None) -> Self:
        """Shape what a call returns, here on the client (None: the output as the server sent it)."""
        self._formatter = as_formatter(format)
        return self

    def share(self, format: Any = None) -> UrlModule:
        """A new client (new id: its own session entries and usage) of the same server, with its
        own formatter; it follows this module's URL, so a share made before ``start()`` works."""
        return _Shared(self, as_formatter(format) if format is not None else self._formatter)

    def __or__(self, other: Any) -> UrlModule:
        """``served | formatter``: a share whose formatter runs after this one's."""
        return self.share(other if self._formatter.is_empty else FormatterChain(self._formatter, other))

    def prompt(self, prompt: Any = None, history: Any = None) -> Self:
        raise ConfigError(f"{self.display_name} is a client of a server at {self._url or '(not started)'}: a "
                          "served module's prompt is set on the module where it is served (m.prompt(...) "
                          "before ServerModule(m))")

    # -- calls -------------------------------------------------------------------------------

    @staticmethod
    async def _body(args: tuple[Any, ...], kw: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """The request body for a call; local files it names travel as content."""
        args = await args_as_content(args)
        if kw.get("lazyllm_files"):
            kw = {**kw, "lazyllm_files": await files_as_content(kw["lazyllm_files"])}
        return {**extra, "args": [to_wire(a, "argument") for a in args],
                "kwargs": {k: to_wire(v, f"keyword argument {k!r}") for k, v in kw.items()}}

    async def forward(self, *args: Any, **kw: Any) -> Any:
        url = self._require_url()
        body = await self._body(args, kw)
        headers = await self._headers()
        if self._stream or current_sink() is not None:
            return await self._forward_sse(f"{url}/generate", body, headers)
        try:
            data, _ = await request_json("POST", f"{url}/generate", json=body, headers=headers,
                                         settings=self._settings)
        except APIStatusError as exc:
            raise served_error(exc, url) from exc
        return self._finish(data)

    async def _forward_sse(self, endpoint: str, body: Any, headers: dict[str, str]) -> Any:
        url = self._require_url()
        try:
            async with stream_sse("POST", endpoint, json=body, headers=headers, settings=self._settings) as events:
                end: Any = None
                async for ev in events:
                    if ev.event == "chunk":
                        await self._relay(ev.json())
                    elif ev.event in ("result", "error"):
                        end = ev
                    # After the last event, read on to the end of the body: the server ends it
                    # right away, and a fully read response goes back to the pool.
        except APIStatusError as exc:
            raise served_error(exc, url) from exc
        if end is None:
            raise ProtocolError(f"the stream from {url} ended without a result event", url=url)
        if end.event == "error":
            raise error_from_body(end.json(), url) or ProtocolError(
                f"{url} sent a malformed error event: {end.data[:120]!r}", url=url)
        return self._finish(end.json())

    async def _relay(self, d: Any) -> None:
        sink = current_sink()
        if sink is None or not isinstance(d, dict):
            return
        data = from_wire(d["data"]) if "data" in d else None
        chunk = Chunk(str(d.get("text", "")), module=str(d.get("module", "")), tag=str(d.get("tag", "text")),
                      data=data)
        await sink.send.send(chunk)

    async def _call(self, name: str, *args: Any, **kw: Any) -> Any:
        """Call the served object's method ``name`` (it must be marked ``@al.remote_method``)."""
        url = self._require_url()
        body = await self._body(args, kw, method=name)
        try:
            data, _ = await request_json("POST", f"{url}/_call", json=body, headers=await self._headers(),
                                         settings=self._settings)
        except APIStatusError as exc:
            raise served_error(exc, url) from exc
        return self._finish(data)


class _Shared(UrlModule):
    """A share of a served module: attached to its server (never deploys or stops it)."""

    def __init__(self, source: UrlModule, fmt: FormatterBase) -> None:
        super().__init__(url=source._url, stream=source._stream, security_key=source.__dict__["_security_key"],
                         settings=source._settings, name=source._module_name)
        self.__dict__["_source"] = source
        self._formatter = fmt

    def _require_url(self) -> str:
        url = self.__dict__["_source"]._require_url()
        self._url = url
        return url  # type: ignore[no-any-return]


class ServerModule(UrlModule):
    """Serve ``m`` over HTTP (or attach to ``url``); see the module docstring."""

    def __init__(
        self,
        m: Any = None,
        pre: Callable[..., Any] | None = None,
        post: Callable[..., Any] | None = None,
        stream: bool = False,
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
        return self._spec.options  # type: ignore[no-any-return]

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
        from ..launchers.base import Status  # the launchers' enum (launchers sit above serving)

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
