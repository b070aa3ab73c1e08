"""Connection pools: one per (origin, network setting, event loop), created lazily, closed by
:func:`aclose_all` / :func:`aclose_origin`; an httpx transport may be installed for an origin.
"""

from __future__ import annotations

import weakref

# Only to find the running loop (pools are kept per loop); nothing runs through asyncio here.
from asyncio import _get_running_loop as _running_asyncio_loop
from collections.abc import Callable
from urllib.parse import urlsplit

import anyio
import httpx
import sniffio

from asyncllm._exceptions import (
    ConfigError,
)
from asyncllm._proxy import ENV, ProxyURL, env_proxy_for
from asyncllm._tls import warn_insecure

from .errors import _redact_url
from .settings import DEFAULT_SETTINGS, HTTPSettings, Pool, _Net

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


def _aiohttp_kind() -> str:
    """The pool kind on asyncio: aiohttp's when it is installed (decided once)."""
    global _ASYNCIO_KIND
    if _ASYNCIO_KIND is None:
        try:
            import asyncllm._transport_aiohttp  # noqa: F401
        except ImportError:  # aiohttp not installed: anyio's pool, still keyed on the loop
            _ASYNCIO_KIND = "asyncio-httpx"
        else:
            _ASYNCIO_KIND = "asyncio"
    return _ASYNCIO_KIND


_ASYNCIO_KIND: str | None = None


def _loop_key() -> tuple[object, str]:
    # The running asyncio loop in one call: sniffio would ask asyncio for the current task and
    # then for the loop, each a getpid() system call on Python 3.11, on every request.
    loop = _running_asyncio_loop()
    if loop is not None:
        return loop, _ASYNCIO_KIND or _aiohttp_kind()
    lib = sniffio.current_async_library()
    if lib == "trio":
        import trio

        global _TRIO_TIME
        _TRIO_TIME = trio.current_time
        return trio.lowlevel.current_trio_token(), lib
    raise RuntimeError(f"asyncllm's HTTP layer needs asyncio or trio, not {lib!r}")


#: trio's clock, once a pool has been looked up on trio (anyio's asks sniffio first each time)
_TRIO_TIME: Callable[[], float] | None = None


def _now() -> float:
    """``anyio.current_time()`` for a request's deadlines, in one call to asyncio's loop (anyio's
    asks sniffio first, which costs another system call there) or to trio's clock."""
    loop = _running_asyncio_loop()
    if loop is not None:
        return loop.time()
    return _TRIO_TIME() if _TRIO_TIME is not None else anyio.current_time()


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
