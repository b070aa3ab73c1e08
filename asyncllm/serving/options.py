"""Every setting of a served module's server, in one frozen object: :class:`ServerOptions`,
with what a network caller may do in it: :class:`CallerPolicy`.

One object (as hypercorn's ``Config``) instead of the same ten keyword arguments on
``create_app``, ``ServerModule``, each launcher and the child process: a new setting is added
here once, validated here once, and reaches every entry point and launcher — in-process,
subprocess, Ray Serve, Slurm, ``asyncllm serve`` — because they all take this object, and
the out-of-process ones rebuild it from :meth:`ServerOptions.to_spec` in the child.

Pure data: importing this module loads neither starlette nor hypercorn.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._exceptions import ConfigError

__all__ = ["DEFAULT_CAPS", "DEFAULT_MAX_BODY", "DEFAULT_MAX_HEADER", "CallerPolicy", "ServerOptions"]

DEFAULT_MAX_BODY = 16 << 20
DEFAULT_MAX_HEADER = 1 << 20
# Upper bounds for the cost parameters a caller may be allowed to set (they bill the server's key
# or hold its engine): tokens per answer, answers per call, seconds per call.
DEFAULT_CAPS: Mapping[str, float] = MappingProxyType({
    "max_tokens": 4096, "max_completion_tokens": 4096, "max_new_tokens": 4096,
    "n": 1, "best_of": 1, "timeout": 300,
})


@dataclass(frozen=True)
class CallerPolicy:
    """What a network caller may do besides sending the module's input. By default: nothing.

    A caller of a served module sends its input (the positional arguments, or the OpenAI
    face's messages). Everything else a call can carry — keyword arguments, the session
    header's per-module parameters and files, ``al.kwargs`` values, files inside a
    ``<lazyllm-query>`` string — could otherwise redirect the server's traffic (``base_url``),
    pick its credentials, read its disk or raise its bill. So:

    * ``params``: keyword arguments a caller may set (for ``/generate``, the session's
      parameters and the OpenAI face's sampling fields). Methods marked ``@remote_method`` and
      ``@route`` also accept the parameters their signature names: marking them opened them.
    * ``caps``: upper bounds for numeric cost parameters a caller may set (merged over
      :data:`DEFAULT_CAPS`: ``max_tokens`` 4096, ``n`` 1, ``timeout`` 300 s, ...).
    * ``history``: callers may send chat history (session header, ``llm_chat_history``, the
      OpenAI face's earlier messages).
    * ``files``: callers may send files as content (``data:`` URLs): each is written into a
      private folder for the request, handed to the module as a path, and deleted afterwards.
    * ``file_urls``: callers may also send ``http(s)://`` URLs as files; the module, its
      provider or its engine fetches them (off by default: a local engine fetching a
      caller's URL is a request from inside your network).
    * ``file_root``: callers may name files by path inside this folder of the server (resolved;
      a path or symlink that leads outside is refused). Off by default.
    * ``max_files`` / ``max_file_bytes``: per request, and per file.

    A refused value is a 403 naming it and the setting that would allow it.
    """

    params: frozenset[str] = frozenset()
    caps: Mapping[str, float] = field(default_factory=lambda: DEFAULT_CAPS)
    history: bool = True
    files: bool = True
    file_urls: bool = False
    file_root: str | None = None
    max_files: int = 8
    max_file_bytes: int = 10 << 20

    def __post_init__(self) -> None:
        params = self.params
        if isinstance(params, str) or not isinstance(params, Iterable) or \
                not all(isinstance(p, str) and p for p in params):
            raise ConfigError(f"CallerPolicy(params={params!r}) is invalid: use a set of keyword names, "
                              "e.g. params={'temperature'}")
        object.__setattr__(self, "params", frozenset(params))
        caps = self.caps
        if not isinstance(caps, Mapping) or not all(
                isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0
                for k, v in caps.items()):
            raise ConfigError(f"CallerPolicy(caps={caps!r}) is invalid: use a dict of name -> upper bound, "
                              "e.g. caps={'max_tokens': 1024}")
        if caps is not DEFAULT_CAPS:
            object.__setattr__(self, "caps", MappingProxyType({**DEFAULT_CAPS, **caps}))
        for name in ("history", "files", "file_urls"):
            _check(isinstance(getattr(self, name), bool), f"caller.{name}", getattr(self, name), "True or False")
        _check(self.file_root is None or (isinstance(self.file_root, str) and bool(self.file_root)),
               "caller.file_root", self.file_root, "a folder path or None")
        for name in ("max_files", "max_file_bytes"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 0, f"caller.{name}", value, "a number >= 0")

    def __deepcopy__(self, memo: dict[int, Any]) -> CallerPolicy:
        return self  # immutable: copies of a module tree (trials, share()) may share it

    def to_spec(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["params"] = sorted(self.params)
        out["caps"] = dict(self.caps)
        return out

    @classmethod
    def from_spec(cls, data: Mapping[str, Any]) -> CallerPolicy:
        return cls(**data)


@dataclass(frozen=True)
class ServerOptions:
    """How a served module's server listens, limits and answers.

    * ``host`` / ``port``: where to listen (127.0.0.1 and a free port unless told otherwise).
    * ``security_key``: the bearer key every route but ``/health`` requires (never in reprs).
    * ``max_body_bytes`` / ``max_header_bytes``: request size limits (413 / 431 above them).
    * ``request_timeout``: seconds one call may run (504 after; None: no limit).
    * ``header_timeout``: seconds a client has to send a request's headers, counted from
      its connection (or from the first byte of a later request on a kept-alive one).
    * ``body_timeout``: seconds a client has to send a request's whole body (408 after).
    * ``keep_alive_timeout``: seconds an idle kept-alive connection stays open; keep it above
      the clients' own pool expiry (asyncllm's clients drop idle connections after 15 s).
    * ``max_connections``: open connections at most; more get a 503 at once (None: what the
      process's descriptor limit allows, keeping a quarter of it for the served module).
    * ``graceful_timeout``: seconds in-flight requests get to finish when the server stops.
    * ``sse_keepalive``: seconds of stream silence after which a comment line goes out.
    * ``debug``: tracebacks in error bodies (off: messages only, server paths scrubbed).
    * ``model_name``: the name the OpenAI face reports (default: the served module's name).
    * ``caller``: what a network caller may set besides the input (:class:`CallerPolicy`;
      default: nothing).
    * ``metrics``: serve Prometheus metrics at ``GET /metrics`` (behind the key; needs
      ``asyncllm[metrics]``).
    """

    host: str = "127.0.0.1"
    port: int = 0
    security_key: str | None = field(default=None, repr=False)
    max_body_bytes: int = DEFAULT_MAX_BODY
    max_header_bytes: int = DEFAULT_MAX_HEADER
    request_timeout: float | None = None
    header_timeout: float = 10.0
    body_timeout: float = 30.0
    keep_alive_timeout: float = 20.0
    max_connections: int | None = None
    graceful_timeout: float = 5.0
    sse_keepalive: float = 15.0
    debug: bool = False
    model_name: str | None = None
    caller: CallerPolicy = field(default_factory=CallerPolicy)
    metrics: bool = False

    def __post_init__(self) -> None:
        _check(isinstance(self.host, str) and bool(self.host), "host", self.host, "an address such as '127.0.0.1'")
        _check(_is_int(self.port) and 0 <= self.port < 65536, "port", self.port, "0..65535 (0: any free port)")
        _check(self.security_key is None or (isinstance(self.security_key, str) and bool(self.security_key)),
               "security_key", "<hidden>", "a non-empty string or None")
        for name in ("max_body_bytes", "max_header_bytes"):
            value = getattr(self, name)
            _check(_is_int(value) and value > 0, name, value, "a positive number of bytes")
        for name in ("graceful_timeout", "sse_keepalive", "header_timeout", "body_timeout", "keep_alive_timeout"):
            _positive(name, getattr(self, name))
        _check(self.max_connections is None or (_is_int(self.max_connections) and self.max_connections > 0),
               "max_connections", self.max_connections, "a positive number or None")
        if self.request_timeout is not None:
            _positive("request_timeout", self.request_timeout)
        _check(isinstance(self.debug, bool), "debug", self.debug, "True or False")
        _check(self.model_name is None or isinstance(self.model_name, str), "model_name", self.model_name,
               "a string or None")
        _check(isinstance(self.caller, CallerPolicy), "caller", self.caller, "an al.CallerPolicy(...)")
        _check(isinstance(self.metrics, bool), "metrics", self.metrics, "True or False")

    def __deepcopy__(self, memo: dict[int, Any]) -> ServerOptions:
        return self  # immutable: copies of a module tree (trials, share()) may share it

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` applied; an unknown name is a :class:`ConfigError` listing the valid ones."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise ConfigError(f"unknown server option(s) {', '.join(unknown)}; ServerOptions has "
                              f"{', '.join(sorted(_FIELDS))}")
        return dataclasses.replace(self, **changes) if changes else self

    def to_spec(self) -> dict[str, Any]:
        """Plain JSON data for a child process (it holds the key: write it only to a private file)."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["caller"] = self.caller.to_spec()
        return out

    @classmethod
    def from_spec(cls, data: dict[str, Any]) -> ServerOptions:
        """The inverse of :meth:`to_spec` (unknown keys from a newer parent are an error, not ignored)."""
        data = dict(data)
        if isinstance(data.get("caller"), dict):
            data["caller"] = CallerPolicy.from_spec(data["caller"])
        return cls().replace(**data)


_FIELDS = frozenset(f.name for f in dataclasses.fields(ServerOptions))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(name: str, value: Any) -> None:
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
    _check(ok, name, value, "a positive number of seconds")


def _check(ok: bool, name: str, value: Any, want: str) -> None:
    if not ok:
        raise ConfigError(f"server option {name}={value!r} is invalid: use {want}")
