"""The HTTP layer every online client and URL client goes through.

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
  are anyio cancel scopes, so a stalled peer cannot hold a call past its deadline.
* **Retries.** tenacity (only here): connect errors, 408/409/429/5xx, ``x-should-retry``,
  ``Retry-After`` / ``retry-after-ms`` (refused when above the cap), else jittered
  exponential backoff; a stream is never retried once its first event has been delivered.
* **Errors.** Every failure leaves as the asyncllm error tree; secrets from the request
  headers and ``key=`` query parameters are scrubbed from messages and bodies.
"""

from __future__ import annotations

import email.utils
import functools
import random
import re
import ssl
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import anyio
import httpx
import orjson
import sniffio
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt
from tenacity.stop import stop_base

from asyncllm import _tracing
from asyncllm._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ConfigError,
    ProtocolError,
    ProxyError,
    QuotaExceededError,
    TLSError,
    status_error_class,
)
from asyncllm._http_answer import Answer, RawPool, Sender, sender
from asyncllm._provider_errors import refine_status_error
from asyncllm._proxy import ENV, ProxyFailure, ProxyURL, env_proxy_for, parse_proxy, proxy_refusal
from asyncllm._tls import CertSpec, TLSFailure, Verify, warn_insecure
from asyncllm.streaming.sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent

__all__ = [
    "HTTPSettings",
    "SSEStream",
    "aclose_all",
    "aclose_origin",
    "get_transport",
    "install_transport",
    "request_json",
    "request_raw",
    "stream_sse",
]

_SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization")
_RETRY_STATUS = frozenset({408, 409, 429})
# Answers that say the request did not run: the only ones a non-idempotent request repeats.
_NOT_RUN_STATUS = frozenset({408, 429})
_ERROR_BODY_LIMIT = 64 * 1024
# A provider's own masked echo of a key, e.g. OpenAI's "sk-proj-****...abcd": visible head and
# tail around a run of asterisks or dots.
_MASK_RUN = re.compile(r"\*{2,}|\.{3,}|…")
_MASKED = re.compile(rf"[\w.-]*?(?:{_MASK_RUN.pattern})[\w-]*")
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

# ---------------------------------------------------------------------------- pools

# loop (asyncio) or trio token → origin (default network setting) or (origin, _Net) → transport.
# Weak keys: a finished loop takes its pools with it instead of leaking them for the life of the
# process.
_POOLS: weakref.WeakKeyDictionary[object, dict[str | tuple[str, _Net], Pool]] = weakref.WeakKeyDictionary()
# Parsing a URL is a noticeable part of a request's CPU; URLs repeat, so keep a few parsed.
_URLS: dict[str, tuple[httpx.URL, str]] = {}
_URL_CACHE_MAX = 512


def _parse_url(url: str) -> tuple[httpx.URL, str]:
    hit = _URLS.get(url)
    if hit is None:
        u = httpx.URL(url)
        if u.scheme not in ("http", "https") or not u.host:
            raise ConfigError(f"not an http(s) URL: {_redact_url(url)!r}; pass e.g. 'https://host/v1/...'")
        hit = (u, f"{u.scheme}://{u.host}:{u.port or (443 if u.scheme == 'https' else 80)}")
        if len(_URLS) >= _URL_CACHE_MAX:
            _URLS.clear()
        _URLS[url] = hit
    return hit


def _loop_key() -> tuple[object, str]:
    lib = sniffio.current_async_library()
    if lib == "trio":
        import trio

        return trio.lowlevel.current_trio_token(), lib
    if lib == "asyncio":
        try:
            from asyncllm._transport_aiohttp import running_loop
        except ImportError:  # aiohttp not installed: still key on the loop
            import asyncio  # only to name the loop; nothing runs through asyncio here

            return asyncio.get_running_loop(), "asyncio-httpx"
        return running_loop(), lib
    raise RuntimeError(f"asyncllm's HTTP layer needs asyncio or trio, not {lib!r}")


def _new_transport(kind: str, origin: str, settings: HTTPSettings) -> Pool:
    limits = httpx.Limits(
        max_connections=settings.max_connections,
        max_keepalive_connections=settings.max_keepalive,
        keepalive_expiry=settings.keepalive_expiry,
    )
    net = settings._net
    proxy = ENV if net is None else net.proxy
    verify = True if net is None else net.verify
    cert = None if net is None else net.cert
    if proxy == ENV:  # read once per pool: a dict lookup per request, not an environment scan
        u = urlsplit(origin)
        proxy = env_proxy_for(u.scheme, u.hostname or "", u.port or 0)
    assert proxy is None or isinstance(proxy, ProxyURL)
    if verify is False:
        warn_insecure(origin)
    if kind == "asyncio":
        from asyncllm._transport_aiohttp import AiohttpPool

        return AiohttpPool(limits, origin, proxy, verify, cert)
    from asyncllm._pool_anyio import AnyioPool

    return AnyioPool(origin, limits, proxy, verify, cert)


def get_transport(base_url: str, settings: HTTPSettings | None = None) -> Pool:
    """The pool for ``base_url``'s origin in the running event loop.

    The pool's limits come from the first caller's ``settings``.
    """
    return _transport_for(_parse_url(base_url)[1], settings or DEFAULT_SETTINGS)


def install_transport(base_url: str, transport: httpx.AsyncBaseTransport) -> None:
    """Use ``transport`` for ``base_url``'s origin in the running loop (tests, proxies, mocks).

    It is closed by :func:`aclose_all` like a pooled one.
    """
    key, _ = _loop_key()
    _POOLS.setdefault(key, {})[_parse_url(base_url)[1]] = transport


def _transport_for(origin: str, settings: HTTPSettings) -> Pool:
    net = settings._net
    if net is not None and net.client is not None:
        return net.client  # the caller's own client: theirs to configure and to close
    key, kind = _loop_key()
    pools = _POOLS.get(key)
    if pools is None:
        pools = _POOLS[key] = {}
    pool_key = origin if net is None else (origin, net)
    transport = pools.get(pool_key)
    if transport is None:
        transport = pools[pool_key] = _new_transport(kind, origin, settings)
    return transport


async def aclose_all() -> None:
    """Close every pool of the running event loop (pools of other loops are theirs to close)."""
    key, _ = _loop_key()
    pools = _POOLS.pop(key, None) or {}
    with anyio.CancelScope(shield=True):
        for transport in pools.values():
            await transport.aclose()


async def aclose_origin(base_url: str) -> None:
    """Close the running loop's pools for ``base_url``'s origin (a stopped engine or server)."""
    key, _ = _loop_key()
    pools = _POOLS.get(key) or {}
    origin = _parse_url(base_url)[1]
    for k in [k for k in pools if k == origin or (isinstance(k, tuple) and k[0] == origin)]:
        transport = pools.pop(k)
        with anyio.CancelScope(shield=True):
            await transport.aclose()


# ---------------------------------------------------------------------------- errors


def _redact_url(url: str) -> str:
    """``url`` without secrets: ``*key*=`` query values and a userinfo password become ``***``."""
    low = url.lower()
    if "key=" not in low and "@" not in low:
        return url
    u = httpx.URL(url)
    if "key=" in low:
        u = u.copy_with(params=[(k, "***" if "key" in k.lower() else v) for k, v in u.params.multi_items()])
    if u.password:
        u = u.copy_with(password="***")
    return str(u)


class _Call:
    """What one logical call knows, for building errors and scrubbing secrets.

    Secrets and the redacted URL are worked out only when an error needs them: the
    successful path must not pay for them.
    """

    __slots__ = ("_headers", "_raw_url", "_secrets", "_url", "model", "provider")

    def __init__(self, url: str, headers: Mapping[str, str] | None, provider: str | None,
                 model: str | None) -> None:
        self._raw_url, self._headers = url, headers
        self.provider, self.model = provider, model
        self._url: str | None = None
        self._secrets: tuple[str, ...] | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            self._url = _redact_url(self._raw_url)
        return self._url

    def scrub(self, text: str) -> str:
        if self._secrets is None:
            self._secrets = _secrets(self._headers) if self._headers else ()
        for s in self._secrets:
            text = text.replace(s, "***")
        if self._secrets and _MASK_RUN.search(text):
            text = _MASKED.sub(lambda m: _unmasked(m.group(0), self._secrets or ()), text)
        return text

    def kw(self, request_id: str | None = None) -> dict[str, Any]:
        return {"provider": self.provider, "model": self.model, "request_id": request_id, "url": self.url}

    def where(self) -> str:
        return self.provider or httpx.URL(self._raw_url).host


def _secrets(headers: Mapping[str, str]) -> tuple[str, ...]:
    out: list[str] = []
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS and value:
            out.append(value)
            scheme, _, token = value.partition(" ")
            if token and scheme.lower() in ("bearer", "basic", "token"):
                out.append(token)
    return tuple(sorted(out, key=len, reverse=True))  # longest first, so 'Bearer x' goes before 'x'


def _unmasked(token: str, secrets: tuple[str, ...]) -> str:
    """``***`` when ``token`` is a masked echo of one of ``secrets``, else ``token`` unchanged.

    Even a key's head and tail narrow a search for it, and a log that holds them ties the
    log to the key, so they go too.
    """
    parts = _MASK_RUN.split(token)
    head, tail = parts[0], parts[-1]
    if len(head) + len(tail) < 2:
        return token
    for s in secrets:
        if len(s) > len(head) + len(tail) and s.startswith(head) and s.endswith(tail):
            return "***"
    return token


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, then ``Retry-After`` (seconds or date)."""
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    ra = headers.get("retry-after")
    if ra is None:
        return None
    try:
        return max(0.0, float(ra))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(ra)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_fields(body: Any) -> tuple[str | None, str | None, str | None, str | None]:
    """(message, type, code, request_id) from the common provider error shapes."""
    if not isinstance(body, dict):
        return None, None, None, None
    err = body.get("error")
    rid = body.get("request_id")
    if isinstance(err, dict):  # OpenAI {"error":{...}}, Anthropic {"type":"error","error":{...}}
        msg, typ, code = err.get("message"), err.get("type"), err.get("code")
    elif isinstance(err, str):
        msg, typ, code = body.get("message") or err, err, body.get("code")
    else:  # DashScope {"code","message","request_id"}; MiniMax base_resp
        base = body.get("base_resp")
        if isinstance(base, dict) and not body.get("message"):
            msg, typ, code = base.get("status_msg"), None, base.get("status_code")
        else:
            msg, typ, code = body.get("message") or body.get("msg"), body.get("type"), body.get("code")
    def s(v: Any) -> str | None:
        return None if v is None else str(v)
    return s(msg), s(typ), s(code), s(rid)


_QUOTA_MARKERS = ("insufficient_quota", "insufficient balance", "arrearage", "balance", "quota_exhausted",
                  "credit_balance_exhausted", "spend_limit_exceeded", "usage_limit_exceeded")
_STRICT_QUOTA_MARKERS = ("insufficient_quota", "arrearage", "credit balance is too low", "insufficient balance",
                         "credit_balance_exhausted", "quota_exhausted")


def _status_error(call: _Call, response: Answer, raw: bytes) -> APIStatusError:
    """The typed error for a non-2xx answer."""
    status = response.status_code
    text = call.scrub(raw.decode("utf-8", "replace"))
    try:
        body: Any = orjson.loads(text) if text else None
    except orjson.JSONDecodeError:
        body = text
    msg, typ, code, body_rid = _error_fields(body)
    headers = response.headers
    rid = headers.get("x-request-id") or headers.get("request-id") or body_rid
    cls = status_error_class(status)
    if status in (400, 402, 403, 429):
        blob = " ".join(x for x in (typ, code, msg) if x).lower()
        # 402 maps to quota already; 429 when the body says so; 400/403 (DashScope 'Arrearage',
        # Anthropic 'credit balance') only on unambiguous wording.
        markers = _QUOTA_MARKERS if status in (402, 429) else _STRICT_QUOTA_MARKERS
        if any(m in blob for m in markers):
            cls = QuotaExceededError
    detail = msg or (text[:300] if text else response.reason_phrase)
    message = f"{status} from {call.where()}"
    if call.model:
        message += f" (model {call.model!r})"
    message += f": {detail}"
    if rid:
        message += f" [request id {rid}]"
    return cls(message, status_code=status, body=body, retry_after=_retry_after(headers),
               error_type=typ or code, **call.kw(rid))


def _timeout(call: _Call, kind: str, seconds: float | None) -> APITimeoutError:
    after = f" after {seconds:g}s" if seconds is not None else ""
    hint = {"connect": "connect_timeout", "first_chunk": "first_chunk_timeout",
            "idle": "idle_timeout", "total": "total_timeout"}[kind]
    return APITimeoutError(f"{kind} timeout{after} talking to {call.where()} ({call.url}); "
                           f"raise HTTPSettings.{hint} if the peer is just slow", kind=kind, **call.kw())


def _transport_error(call: _Call, exc: httpx.TransportError | OSError, s: HTTPSettings) -> APIError:
    if isinstance(exc, httpx.ConnectTimeout):
        return _timeout(call, "connect", s.connect_timeout)
    if isinstance(exc, ProxyFailure):  # the target never saw the request (after_send=False)
        return ProxyError(call.scrub(str(exc)), status_code=exc.status, **call.kw())
    if isinstance(exc, TLSFailure):
        return TLSError(f"{call.scrub(str(exc))} ({call.url})", **call.kw())
    if isinstance(exc, httpx.ProxyError):  # from a user's httpx client
        return ProxyError(f"proxy failure talking to {call.where()} ({call.url}): {call.scrub(str(exc))}",
                          **call.kw())
    connecting = isinstance(exc, httpx.ConnectError | OSError)
    what = "could not connect to" if connecting else "connection broke with"
    detail = call.scrub(str(exc)) or type(exc).__name__
    return APIConnectionError(f"{what} {call.where()} ({call.url}): {detail}", after_send=not connecting,
                              **call.kw())


class _TransportErrors:
    """``with _TransportErrors(call, settings):`` the one place a transport failure (httpx's, or
    an OSError from a socket) becomes our typed error for ``call``. A class rather than a
    generator-based context manager: it sits around every read of a stream."""

    __slots__ = ("call", "settings")

    def __init__(self, call: _Call, settings: HTTPSettings) -> None:
        self.call = call
        self.settings = settings

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, httpx.TransportError | OSError):
            raise _transport_error(self.call, exc, self.settings) from exc


# ---------------------------------------------------------------------------- deadlines


class _Deadlines:
    """A call's total deadline and the current attempt's first-chunk deadline.

    Moving an active scope's deadline costs a timer reschedule, so idle deadlines are renewed
    lazily: only once the renewal would move them by more than ``gap`` (5% of the idle
    timeout, at most 1 s). An idle timeout can thus fire up to that much early.
    """

    __slots__ = ("first", "gap", "idle", "s", "total")

    def __init__(self, s: HTTPSettings) -> None:
        self.s = s
        self.total = anyio.current_time() + s.total_timeout if s.total_timeout is not None else float("inf")
        self.first = self.total
        self.idle = s.idle_timeout
        self.gap = min(1.0, s.idle_timeout * 0.05)

    def start_attempt(self) -> anyio.CancelScope:
        """A scope for one attempt; the first-chunk clock starts now."""
        self.first = anyio.current_time() + self.s.first_chunk_timeout
        return anyio.CancelScope(deadline=min(self.first, self.total))

    def renew(self, scope: anyio.CancelScope, phase_change: bool = False) -> None:
        """Data arrived: move the scope's deadline to now + idle (capped by the total).

        Between chunks it only ever moves later; when the headers arrive (``phase_change``)
        it may also move earlier, from the first-chunk deadline to the idle one.
        """
        want = min(anyio.current_time() + self.idle, self.total)
        delta = want - scope.deadline
        if delta > self.gap or (phase_change and -delta > self.gap):
            scope.deadline = want

    def idle_scope(self) -> anyio.CancelScope:
        return anyio.CancelScope(deadline=min(anyio.current_time() + self.idle, self.total))

    def error(self, call: _Call, scope: anyio.CancelScope, phase: str) -> APITimeoutError:
        kind = "total" if scope.deadline >= self.total else phase
        s = self.s
        secs = {"first_chunk": s.first_chunk_timeout, "idle": s.idle_timeout, "total": s.total_timeout}[kind]
        return _timeout(call, kind, secs)


# ---------------------------------------------------------------------------- retry policy


def _should_retry(s: HTTPSettings) -> Callable[[BaseException], bool]:
    def pred(exc: BaseException) -> bool:
        if isinstance(exc, APIStatusError):
            if isinstance(exc, QuotaExceededError):
                return False  # retrying cannot refill a balance
            if exc.retry_after is not None and exc.retry_after > s.retry_after_cap:
                return False  # the server wants a long pause: surface it instead of sleeping
            if exc.should_retry is not None:  # the server's x-should-retry, when it sent one
                return exc.should_retry
            if not s.idempotent:
                return exc.status_code in _NOT_RUN_STATUS
            return exc.status_code in _RETRY_STATUS or exc.status_code >= 500
        if isinstance(exc, APITimeoutError):
            return exc.kind == "connect"  # a slow model is not helped by asking again
        if isinstance(exc, TLSError):
            return False  # an untrusted certificate stays untrusted
        if isinstance(exc, ProxyError) and exc.status_code is not None and exc.status_code < 500:
            return False  # 407 wants credentials, 403 is the proxy's policy: asking again cannot help
        if isinstance(exc, APIConnectionError):
            return s.idempotent or not exc.after_send
        return False
    return pred


def _delay(s: HTTPSettings, exc: BaseException | None, attempt: int) -> float:
    """Wait before the next attempt: the server's hint if sane, else jittered ``base·2^(n-1)``."""
    hint = getattr(exc, "retry_after", None)
    if hint is not None and 0 <= hint <= s.retry_after_cap:
        return float(hint)
    delay = min(s.backoff_base * 2 ** (attempt - 1), s.backoff_max)
    return float(delay * (1 - 0.25 * random.random()))


async def _with_retries(s: HTTPSettings, call: _Call, dl: _Deadlines, attempt: Callable[[], Any]) -> Any:
    """Run ``attempt`` under the retry policy and the total deadline.

    The first attempt runs bare (the common case pays no tenacity overhead); if it fails
    retryably, tenacity drives attempts 2..max_attempts. A retry whose back-off would end past
    the total deadline is not made: the caller gets the real error, not a later timeout.
    """
    pred = _should_retry(s)
    try:
        return await attempt()  # each attempt's own scope is already capped by the total deadline
    except APIError as exc:
        delay = _delay(s, exc, 1)
        if s.max_attempts <= 1 or not pred(exc) or anyio.current_time() + delay >= dl.total:
            raise
        reason: list[BaseException | None] = [exc]  # why the next attempt is made (for tracing)
    with anyio.CancelScope(deadline=dl.total):
        await anyio.sleep(delay)
        retrying = AsyncRetrying(
            sleep=anyio.sleep,  # tenacity's default is asyncio.sleep; anyio's works on trio too
            stop=stop_after_attempt(s.max_attempts - 1)
            | stop_when(lambda st: anyio.current_time() + st.upcoming_sleep >= dl.total),
            wait=lambda st: _delay(s, st.outcome.exception() if st.outcome else None, st.attempt_number + 1),
            retry=retry_if_exception(pred),
            before_sleep=lambda st: reason.__setitem__(0, st.outcome.exception() if st.outcome else None),
            reraise=True,
        )
        async for att in retrying:
            with att:
                if _tracing.TRACER is not None:
                    _tracing.retry_event(att.retry_state.attempt_number + 1, reason[0])
                return await attempt()
    raise _timeout(call, "total", s.total_timeout)  # only reached when the total scope fired


class stop_when(stop_base):
    """Stop when ``pred(retry_state)`` holds (tenacity evaluates stop after computing the wait)."""

    def __init__(self, pred: Callable[[RetryCallState], bool]) -> None:
        self.pred = pred

    def __call__(self, retry_state: RetryCallState) -> bool:
        return self.pred(retry_state)


# ---------------------------------------------------------------------------- requests


def _json_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    hdrs = dict(headers) if headers else {}
    if not any(k.lower() == "content-type" for k in hdrs):
        hdrs["content-type"] = "application/json"
    return hdrs


def _json_sender(method: str, url: str, s: HTTPSettings, headers: Mapping[str, str] | None,
                 json: Any) -> Sender:
    parsed, origin = _parse_url(url)
    if json is not None:
        body: bytes | None = orjson.dumps(json)
        hdrs = _json_headers(headers)
    else:
        body, hdrs = None, dict(headers) if headers else {}
    return sender(_transport_for(origin, s), method, url, parsed, hdrs, body, s.connect_timeout)


async def _exchange(send: Sender, call: _Call, dl: _Deadlines) -> tuple[Answer, bytes]:
    """One attempt: send, read the whole body, end the answer. A non-2xx status raises its
    typed error (its body read only up to a limit).

    One cancel scope covers it all: first-chunk deadline until the headers arrive, then idle
    deadlines between chunks (renewed lazily), all capped by the total deadline.
    """
    scope = dl.start_attempt()
    phase = "first_chunk"
    answer: Answer | None = None
    chunks: list[bytes] = []
    complete = False
    try:
        with _TransportErrors(call, dl.s), scope:
            answer = await send()
            if _tracing.TRACER is not None:
                _tracing.http_status_here(answer.status_code)
            phase = "idle"
            dl.renew(scope, phase_change=True)
            limit = _ERROR_BODY_LIMIT if answer.status_code >= 400 else None
            size = 0
            while chunk := await answer.read_some():
                chunks.append(chunk)
                size += len(chunk)
                if limit is not None and size >= limit:
                    break
                dl.renew(scope)
            else:
                complete = True
    finally:
        if answer is not None:
            await answer.aclose(complete)
    if scope.cancelled_caught or answer is None:
        raise dl.error(call, scope, phase)
    raw = _decoded(answer, chunks[0] if len(chunks) == 1 else b"".join(chunks))
    if answer.status_code >= 400:
        raise _status_with_hint(call, answer, raw)
    return answer, raw


def _decoded(answer: Answer, raw: bytes) -> bytes:
    if answer.decoded:
        return raw
    enc = answer.headers.get("content-encoding")
    if not enc or enc == "identity":
        return raw
    # Rare (we do not ask for compression): let httpx's decoders handle gzip/deflate/br.
    return httpx.Response(answer.status_code, headers=answer.headers, content=raw).content


def _traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    """With tracing on (``al.instrument()``), the call runs in an HTTP client span and carries the
    W3C trace context in its headers; off, it is called as it is."""
    @functools.wraps(fn)
    async def call(method: str, url: str, **kw: Any) -> Any:
        if _tracing.TRACER is None:
            return await fn(method, url, **kw)
        headers = dict(kw.get("headers") or {})
        with _tracing.http_span(method, url, _redact_url(url), headers):
            return await fn(method, url, **{**kw, "headers": headers})

    return call


@_traced
async def request_json(
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    settings: HTTPSettings | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> tuple[Any, Mapping[str, str]]:
    """Send a JSON request and return ``(parsed body, response headers)``; retries, typed errors.

    The headers are a read-only, case-insensitive mapping.
    """
    s = settings or DEFAULT_SETTINGS
    send = _json_sender(method, url, s, headers, json)
    call = _Call(url, headers, provider, model)
    dl = _Deadlines(s)

    async def attempt() -> tuple[Any, Mapping[str, str]]:
        answer, raw = await _exchange(send, call, dl)
        try:
            return (orjson.loads(raw) if raw else None), answer.headers
        except orjson.JSONDecodeError as exc:
            snippet = call.scrub(raw[:120].decode("utf-8", "replace"))
            raise ProtocolError(f"{call.where()} sent a body that is not JSON: {snippet!r}",
                                **call.kw(answer.headers.get("x-request-id"))) from exc

    result: tuple[Any, Mapping[str, str]] = await _with_retries(s, call, dl, attempt)
    return result


def _status_with_hint(call: _Call, answer: Answer, raw: bytes) -> APIError:
    """The typed error for a non-2xx answer (retyped by the provider's error rule, e.g. GLM's
    429 + code 1113 is arrears), with the server's x-should-retry hint attached. Only a proxy
    answers 407: that is a ProxyError naming the fix."""
    if answer.status_code == 407:
        refused = proxy_refusal("on the way", 407, answer.reason_phrase, call.where())
        return ProxyError(f"{refused} ({call.url})", status_code=407, **call.kw())
    err = refine_status_error(_status_error(call, answer, raw))
    hint = answer.headers.get("x-should-retry")
    if hint in ("true", "false") and isinstance(err, APIStatusError):
        err.should_retry = hint == "true"
    return err


@_traced
async def request_raw(
    method: str,
    url: str,
    *,
    json: Any = None,
    content: bytes | None = None,
    data: Mapping[str, Any] | None = None,
    files: Any = None,
    headers: Mapping[str, str] | None = None,
    settings: HTTPSettings | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> httpx.Response:
    """Any request (multipart ``files=``/``data=`` included); returns a read, closed response.

    Non-2xx statuses raise the typed error as in :func:`request_json`.
    """
    s = settings or DEFAULT_SETTINGS
    parsed, origin = _parse_url(url)
    if json is not None:
        content, hdrs = orjson.dumps(json), _json_headers(headers)
    else:
        hdrs = dict(headers) if headers else {}
    # httpx encodes forms and multipart bodies (boundary header included); retries need the bytes.
    encoded = httpx.Request(method, parsed, headers=hdrs, content=content, data=data, files=files)
    body = await encoded.aread()
    send = sender(_transport_for(origin, s), method, url, parsed, encoded.headers, body or None,
                  s.connect_timeout)
    call = _Call(url, headers, provider, model)
    dl = _Deadlines(s)

    async def attempt() -> httpx.Response:
        answer, raw = await _exchange(send, call, dl)
        # The body is decoded already: its original encoding and length no longer apply.
        items = getattr(answer.headers, "multi_items", answer.headers.items)()
        kept = [(k, v) for k, v in items if k.lower() not in ("content-encoding", "content-length")]
        return httpx.Response(answer.status_code, headers=kept, content=raw, request=encoded)

    result: httpx.Response = await _with_retries(s, call, dl, attempt)
    return result


# ---------------------------------------------------------------------------- SSE streams


class NDJSONDecoder:
    """Newline-delimited JSON (Ollama's stream): each non-empty line is one event's ``data``."""

    __slots__ = ("_buf",)

    def __init__(self) -> None:
        self._buf = b""

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        *lines, self._buf = (self._buf + chunk).split(b"\n")
        if len(self._buf) > MAX_EVENT_BYTES:
            raise ProtocolError(f"a stream line grew past {MAX_EVENT_BYTES} bytes without a newline")
        return [SSEEvent(None, line.decode("utf-8", "replace")) for line in lines if line.strip()]

    def flush(self) -> list[SSEEvent]:
        rest, self._buf = self._buf, b""
        return [SSEEvent(None, rest.decode("utf-8", "replace"))] if rest.strip() else []


class SSEStream:
    """The events of one streamed response. Iterate it; leaving ``stream_sse`` closes it.

    Reads are raced against the idle and total deadlines, so a stalled peer surfaces as
    ``APITimeoutError`` instead of hanging. ``response`` gives the status and headers.
    """

    __slots__ = ("_call", "_decoder", "_dl", "_eof", "_errors", "_pending", "response")

    def __init__(self, answer: Answer, call: _Call, dl: _Deadlines, decoder: SSEDecoder | NDJSONDecoder | None = None,
                 ) -> None:
        self.response = answer
        self._call = call
        self._dl = dl
        self._errors = _TransportErrors(call, dl.s)
        self._decoder = decoder if decoder is not None else SSEDecoder()
        self._pending: deque[SSEEvent] = deque()
        self._eof = False

    @property
    def request_id(self) -> str | None:
        h = self.response.headers
        rid: str | None = h.get("x-request-id") or h.get("request-id")
        return rid

    def __aiter__(self) -> SSEStream:
        return self

    async def __anext__(self) -> SSEEvent:
        while not self._pending:
            if self._eof:
                raise StopAsyncIteration
            # A scope per read, not across the yield to the caller (PEP 789): the caller's
            # own time between events does not count as the peer being idle.
            with self._dl.idle_scope() as scope:
                await self._read()
            if scope.cancelled_caught:
                raise self._dl.error(self._call, scope, "idle")
        return self._pending.popleft()

    async def _read(self) -> None:
        """Read one chunk (the caller holds the deadline) and decode it."""
        with self._errors:
            chunk = await self.response.read_some()
        if not chunk:
            self._eof = True
            self._pending.extend(self._decoder.flush())
            return
        try:
            self._pending.extend(self._decoder.feed(chunk))
        except ProtocolError as exc:
            exc.provider, exc.model, exc.url = self._call.provider, self._call.model, self._call.url
            raise

    async def aclose(self) -> None:
        await self.response.aclose(self._eof)


async def _error_body(answer: Answer, call: _Call, dl: _Deadlines) -> bytes:
    """A bounded prefix of an error answer's body (the answer is ended after)."""
    chunks: list[bytes] = []
    size = 0
    complete = False
    try:
        with _TransportErrors(call, dl.s), dl.idle_scope() as scope:
            while chunk := await answer.read_some():
                chunks.append(chunk)
                size += len(chunk)
                if size >= _ERROR_BODY_LIMIT:
                    break
            else:
                complete = True
    finally:
        await answer.aclose(complete)
    if scope.cancelled_caught:
        raise dl.error(call, scope, "idle")
    return _decoded(answer, b"".join(chunks))


@asynccontextmanager
async def stream_sse(
    method: str,
    url: str,
    *,
    json: Any = None,
    headers: Mapping[str, str] | None = None,
    settings: HTTPSettings | None = None,
    provider: str | None = None,
    model: str | None = None,
    on_open: Callable[[Answer], None] | None = None,
    ndjson: bool = False,
) -> AsyncIterator[SSEStream]:
    """Open an SSE stream: ``async with stream_sse(...) as events: async for ev in events: ...``.

    Entering waits for the first event (so connect/status/first-chunk failures are retried
    there); once it is delivered the call is committed and later failures surface as errors.
    ``on_open`` sees each successful answer (status and headers) before its events.
    ``ndjson=True`` reads newline-delimited JSON instead (each line an event's ``data``).
    """
    span = None
    if _tracing.TRACER is not None:  # a client span, and the W3C trace context sent along
        headers = dict(headers or {})
        span = _tracing.open_http_span(method, url, _redact_url(url), headers)
    s = settings or DEFAULT_SETTINGS
    accept = "application/x-ndjson" if ndjson else "text/event-stream"
    hdrs = {"accept": accept, **headers} if headers else {"accept": accept}
    send = _json_sender(method, url, s, hdrs, json)
    call = _Call(url, headers, provider, model)
    dl = _Deadlines(s)

    async def attempt() -> SSEStream:
        # The first-chunk deadline covers everything up to the first *event*: a keep-alive
        # comment is not a first token.
        scope = dl.start_attempt()
        stream: SSEStream | None = None
        answer: Answer | None = None
        try:
            with scope:
                with _TransportErrors(call, s):
                    answer = await send()
                if answer.status_code < 400:
                    stream = SSEStream(answer, call, dl, NDJSONDecoder() if ndjson else None)
                    if on_open is not None:
                        on_open(answer)
                    while not stream._pending and not stream._eof:
                        await stream._read()
        except BaseException:
            if stream is not None:
                await stream.aclose()
            elif answer is not None:
                await answer.aclose(False)
            raise
        if scope.cancelled_caught or answer is None:
            if stream is not None:
                await stream.aclose()
            elif answer is not None:
                await answer.aclose(False)
            raise dl.error(call, scope, "first_chunk")
        if stream is None:
            raise _status_with_hint(call, answer, await _error_body(answer, call, dl))
        return stream

    if span is None:
        events: SSEStream = await _with_retries(s, call, dl, attempt)
        try:
            yield events
        finally:
            await events.aclose()
        return
    # Traced: the span is current only while the request is made (retries included), not while
    # the caller reads the events (it runs its own work then); it ends when the stream closes.
    try:
        with _tracing.step(span):
            events = await _with_retries(s, call, dl, attempt)
        try:
            yield events
        finally:
            await events.aclose()
    except BaseException as exc:
        _tracing.fail(span, exc)
        raise
    finally:
        span.end()


