"""The network settings of a request (:class:`HTTPSettings`: timeouts, retries, proxy, TLS, a caller's
client) and the limits the HTTP layer works within.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import NamedTuple

import httpx

from asyncllm._exceptions import (
    ConfigError,
)
from asyncllm._http_answer import RawPool
from asyncllm._proxy import ENV, ProxyURL, parse_proxy
from asyncllm._tls import CertSpec, Verify

#: how much of an error answer's body is read (and kept on the error)
_ERROR_BODY_LIMIT = 64 * 1024
Pool = httpx.AsyncBaseTransport | httpx.AsyncClient | RawPool


class _Net(NamedTuple):
    """The network part of a setting: part of the pool key (None when all are defaults)."""

    proxy: ProxyURL | str | None  # ENV, None (direct) or a parsed proxy
    verify: Verify
    cert: CertSpec | None
    client: httpx.AsyncClient | httpx.AsyncBaseTransport | None


@dataclass(frozen=True, slots=True)
class HTTPSettings:
    """Limits, deadlines, retry policy and network setting for one call (seconds; None = no limit).

    Network: ``proxy`` is ``"env"`` (the standard variables), ``None`` (no proxy) or a proxy URL
    (``http://user:password@host:port``); ``verify`` is True (the default CA bundle, or
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), a CA bundle path, an ``ssl.SSLContext`` or False
    (insecure); ``cert`` is the client certificate for mutual TLS; ``client`` is the caller's own
    ``httpx.AsyncClient`` (or transport), used instead of the pools. Credentials never show in
    the repr.
    """

    connect_timeout: float = 5.0
    first_chunk_timeout: float = 120.0
    idle_timeout: float = 120.0
    total_timeout: float | None = 600.0
    max_attempts: int = 3
    max_connections: int = 256
    max_keepalive: int = 64
    keepalive_expiry: float = 15.0
    retry_after_cap: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    # The request may run twice: re-send it after a connection broke *after* it went out, and
    # after a 5xx answer that does not say ``x-should-retry``. Fine for LLM providers (as their
    # SDKs do); a served module may have side effects, so its client turns this off (connect
    # failures, 408/429 and answers marked retryable are still retried: nothing ran).
    idempotent: bool = True
    proxy: str | None = ENV
    verify: Verify = True
    cert: CertSpec | None = None
    client: httpx.AsyncClient | httpx.AsyncBaseTransport | None = None
    _net: _Net | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.proxy == ENV and self.verify is True and self.cert is None and self.client is None:
            return  # the common case: keyed by origin alone, nothing to prepare
        if not isinstance(self.verify, bool | str | ssl.SSLContext):
            raise ConfigError(f"verify must be True, False, a CA bundle path or an ssl.SSLContext, "
                              f"not {type(self.verify).__name__}")
        if self.cert is not None and not (isinstance(self.cert, str) or (
                isinstance(self.cert, tuple) and len(self.cert) in (2, 3))):
            raise ConfigError("cert must be a PEM path or (certfile, keyfile[, password])")
        if self.client is not None and not isinstance(self.client, httpx.AsyncClient | httpx.AsyncBaseTransport):
            raise ConfigError(f"client must be an httpx.AsyncClient or httpx.AsyncBaseTransport, "
                              f"not {type(self.client).__name__}")
        proxy: ProxyURL | str | None = self.proxy
        if isinstance(proxy, str) and proxy != ENV:
            proxy = parse_proxy(proxy)
        object.__setattr__(self, "_net", _Net(proxy, self.verify, self.cert, self.client))

    def __repr__(self) -> str:
        shown = []
        for name in self.__dataclass_fields__:
            if name == "_net":
                continue
            value = getattr(self, name)
            if name == "proxy" and self._net is not None and isinstance(self._net.proxy, ProxyURL):
                value = self._net.proxy.redacted()
            elif name == "cert" and isinstance(value, tuple) and len(value) == 3:
                value = (value[0], value[1], "***")
            shown.append(f"{name}={value!r}")
        return f"HTTPSettings({', '.join(shown)})"


DEFAULT_SETTINGS = HTTPSettings()
