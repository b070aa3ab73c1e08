"""The HTTP layer every online client and URL client goes through (one module per concern:
``settings``, ``options``, ``pools``, ``errors``, ``deadlines``, ``retry``, ``requests``, ``sse``).

* **Pools.** One pool per (origin, network setting, event loop), created lazily and closed by
  :func:`aclose_all`. The network setting (proxy, TLS trust, client certificate) is part of the
  key, so two modules with different proxies or certificates never share a connection; with
  the defaults the key is the origin alone. On asyncio it is an aiohttp session (``_transport_aiohttp``), elsewhere
  (trio, or asyncio without aiohttp) an HTTP/1.1 pool over anyio sockets parsed by h11
  (``_pool_anyio``). Both take bytes and answer with a light object: no httpx request or
  response objects per call, which cost more CPU than everything else on a small call. Any
  httpx transport can be installed for an origin (tests, proxies); it gets ``httpx.Request``
  objects directly, and a user's own ``httpx.AsyncClient`` (``HTTPSettings.client``) gets
  requests built by that client (its proxy, certificates, headers, auth and event hooks apply).
  ``_http_answer`` hides the difference.
* **Proxies and TLS.** ``HTTPSettings.proxy``: ``"env"`` (``HTTPS_PROXY`` / ``HTTP_PROXY`` /
  ``ALL_PROXY`` / ``NO_PROXY``, read when a pool opens; ``_proxy``), ``None`` (direct) or a URL.
  ``verify`` / ``cert``: whom to trust and the client certificate (``_tls``).
* **Timeouts.** ``connect`` (inside the transport), ``first_chunk`` (request sent → first
  body bytes / first SSE event), ``idle`` (between chunks) and ``total`` (the whole call,
  retries and stream consumption included). Each raises ``APITimeoutError(kind=...)``. They
  are deadlines the transport keeps (``_http_answer``), so a stalled peer cannot hold a call
  past them.
* **Retries.** tenacity (only here): connect errors, 408/409/429/5xx, ``x-should-retry``,
  ``Retry-After`` / ``retry-after-ms`` (refused when above the cap), else jittered
  exponential backoff; a stream is never retried once its first event has been delivered.
* **Errors.** Every failure leaves as the asyncllm error tree; secrets from the request
  headers and ``key=`` query parameters are scrubbed from messages and bodies.
"""

from __future__ import annotations

from .options import HTTPOptions, http_settings
from .pools import aclose_all, aclose_origin, get_transport, install_transport
from .requests import request_json, request_raw
from .settings import DEFAULT_SETTINGS, HTTPSettings
from .sse import SSEStream, stream_sse

__all__ = [
    "DEFAULT_SETTINGS",
    "HTTPOptions",
    "HTTPSettings",
    "SSEStream",
    "aclose_all",
    "aclose_origin",
    "get_transport",
    "http_settings",
    "install_transport",
    "request_json",
    "request_raw",
    "stream_sse",
]
