"""Every setting of a served module's server, in one frozen object: :class:`ServerOptions`.

One object (as hypercorn's ``Config``) instead of the same ten keyword arguments on
``create_app``, ``ServerModule``, each launcher and the child process: a new setting is added
here once, validated here once, and reaches every entry point and launcher — in-process,
subprocess, Ray Serve, Slurm, ``asyncllm serve`` — because they all take this object, and
the out-of-process ones rebuild it from :meth:`ServerOptions.to_spec` in the child.

Pure data: importing this module loads neither starlette nor hypercorn.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from .._exceptions import ConfigError

__all__ = ["DEFAULT_MAX_BODY", "DEFAULT_MAX_HEADER", "ServerOptions"]

DEFAULT_MAX_BODY = 16 << 20
DEFAULT_MAX_HEADER = 1 << 20


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

    def replace(self, **changes: Any) -> ServerOptions:
        """A copy with ``changes`` applied; an unknown name is a :class:`ConfigError` listing the valid ones."""
        unknown = sorted(set(changes) - _FIELDS)
        if unknown:
            raise ConfigError(f"unknown server option(s) {', '.join(unknown)}; ServerOptions has "
                              f"{', '.join(sorted(_FIELDS))}")
        return dataclasses.replace(self, **changes) if changes else self

    def to_spec(self) -> dict[str, Any]:
        """Plain JSON data for a child process (it holds the key: write it only to a private file)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    @classmethod
    def from_spec(cls, data: dict[str, Any]) -> ServerOptions:
        """The inverse of :meth:`to_spec` (unknown keys from a newer parent are an error, not ignored)."""
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
