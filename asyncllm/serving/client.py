"""``UrlModule``: a module behind an HTTP server, called like a local one.

``UrlModule(url=...)`` attaches to a running server (``ServerModule``, in server_module.py,
is the same client plus a server it starts). This file is the client only: it needs the HTTP
layer and the wire format, never starlette or hypercorn, so an app that only calls served
modules does not load a server (tests/serving/test_client_imports.py checks ``sys.modules``).

A call sends the arguments as JSON (see wire.py) plus the caller's session context for the
modules the server serves (and only those); the server's usage comes back and is recorded
in the caller's session. With ``stream=True``, or by default (``None``) when somebody streams
(``s.stream(x)``, or a flow containing ``s`` being streamed), the call uses SSE and each chunk
reaches the caller as it is produced (``streams_upstream``; ``stream=False``: one JSON answer),
keeping the module name and tag it had on the server; cancelling the call closes the
connection, which cancels the work on the server.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NoReturn, Self

from .._context import Session, peek_session, record_usage
from .._exceptions import APIError, APIStatusError, ConfigError, LifecycleError, ProtocolError
from .._http import DEFAULT_SETTINGS, HTTPSettings, request_json, stream_sse
from ..modules.base import ModuleBase
from ..prompts.formatters import EmptyFormatter, FormatterBase, FormatterChain, as_formatter
from ..streaming.channel import Chunk, current_sink, streams_upstream
from ._client_files import args_as_content, files_as_content
from .errors import ServerLostError, error_from_body, served_error
from .wire import SESSION_HEADER, encode_session, from_wire, to_wire

__all__ = ["UrlModule"]


def _base_url(url: str) -> str:
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"url must start with http:// or https://, got {url!r}")
    url = url.rstrip("/")
    return url[: -len("/generate")] if url.endswith("/generate") else url


# A served module may have side effects: a request the server may have started is never sent
# again (a broken connection after sending, an unmarked 5xx); connect failures and answers that
# say nothing ran (408, 429, x-should-retry: true) are still retried.
# A served module lives beside its caller (this host, a cluster node), never behind the
# corporate proxy the environment names for the internet: the seed's UrlModule went direct too,
# and a proxy would see the module's key and inputs. ``settings=HTTPSettings(proxy=...)`` opts in.
_SERVED_SETTINGS = dataclasses.replace(DEFAULT_SETTINGS, idempotent=False, proxy=None)


class UrlModule(ModuleBase):
    """A client of a served module at ``url`` (its base URL, or the ``.../generate`` URL).

    ``idempotent=True`` says the served module may safely run a request twice, so the client
    may re-send one after a broken connection or a 5xx; by default it never does.
    """

    def __init__(self, *, url: str = "", stream: bool | None = None, return_trace: bool = False,
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
        return self._url

    @property
    def stream_mode(self) -> bool:
        return bool(self._stream)

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "url": self._url or None, "stream": self._stream or None}

    # -- request pieces ----------------------------------------------------------------------

    def _require_url(self) -> str:
        if not self._url:
            raise LifecycleError(f"{self.display_name} has no server yet: `await s.start()` it (or pass url=)")
        return self._url

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
        if streams_upstream(None, self._stream):  # a stream= keyword is the served module's own
            return await self._forward_sse(f"{url}/generate", body, headers)
        try:
            data, _ = await request_json("POST", f"{url}/generate", json=body, headers=headers,
                                         settings=self._settings)
        except APIError as exc:
            await self._reraise(exc, url)
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
        except APIError as exc:
            await self._reraise(exc, url)
        if end is None:
            await self._reraise(ProtocolError(f"the stream from {url} ended without a result event", url=url), url)
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
        except APIError as exc:
            await self._reraise(exc, url)
        return self._finish(data)

    async def _reraise(self, exc: APIError, url: str) -> NoReturn:
        """Raise what a failed call raises: the module's own error (ServedModuleError), a lost
        server (ServerLostError, when the launcher can tell), or else ``exc`` itself."""
        if isinstance(exc, APIStatusError):
            mapped = served_error(exc, url)
            if mapped is not exc:
                raise mapped from exc
        lost = None if isinstance(exc, APIStatusError) and exc.status_code < 500 else await self._lost(exc, url)
        if lost is not None:
            raise lost from exc
        raise exc

    async def _lost(self, exc: APIError, url: str) -> ServerLostError | None:
        """A server process lost mid-call; only a launcher that watches its server can tell."""
        return None


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
