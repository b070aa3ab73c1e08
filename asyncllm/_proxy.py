"""Which proxy a request goes through: an explicit setting, or the standard environment variables.

``HTTPSettings.proxy`` is ``"env"`` (the default), ``None`` (no proxy) or a proxy URL. With
``"env"`` the proxy for a target is read the way curl, requests and httpx read it:

* ``https://`` targets: ``https_proxy``, ``HTTPS_PROXY``, then ``all_proxy`` / ``ALL_PROXY``;
  ``http://`` targets: ``http_proxy``, ``HTTP_PROXY``, then the ``all_proxy`` pair. Lowercase
  wins over uppercase; uppercase ``HTTP_PROXY`` is ignored when ``REQUEST_METHOD`` is set (a CGI
  process, where any client can set it: "httpoxy").
* ``no_proxy`` / ``NO_PROXY`` (comma or space separated) lists targets that go direct: ``*``
  (everything), a host (``example.com`` also covers ``api.example.com``, never
  ``badexample.com``; a leading dot or ``*.`` means the same), an IP (``10.1.2.3``, ``::1`` or
  ``[::1]``), a network (``10.0.0.0/8``), each optionally with ``:port`` to match that port only.

The environment is read when a pool for an origin opens, not per request (httpx reads it when a
client is built). An explicit proxy URL ignores ``NO_PROXY``, as httpx's ``proxy=`` does.

A proxy URL is ``http://`` or ``https://`` (TLS to the proxy), with optional ``user:password@``:
the credentials become a ``Proxy-Authorization: Basic`` header and never appear in a repr, a log
line or an error (:meth:`ProxyURL.redacted`).
"""

from __future__ import annotations

import base64
import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import httpx

from asyncllm._exceptions import ConfigError

__all__ = ["ENV", "ProxyFailure", "ProxyURL", "env_proxy_for", "no_proxy_matches", "parse_proxy", "proxy_refusal"]

#: ``HTTPSettings.proxy`` value meaning "from the environment variables"
ENV = "env"


@dataclass(frozen=True, slots=True)
class ProxyURL:
    """A parsed proxy: where to connect, and the header that carries its credentials."""

    scheme: str
    host: str
    port: int
    auth_header: str | None = field(default=None, repr=False)  # "Basic <b64>", a secret

    @property
    def tls(self) -> bool:
        return self.scheme == "https"

    def redacted(self) -> str:
        """The proxy's address for messages: credentials shown as ``***``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{'***@' if self.auth_header else ''}{host}:{self.port}"

    def __repr__(self) -> str:
        return f"ProxyURL({self.redacted()!r})"


class ProxyFailure(httpx.ProxyError):
    """The proxy could not be reached, or refused the request (``status``: its answer, e.g. 407)."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def proxy_refusal(proxy: str, status: int, reason: str, target: str) -> ProxyFailure:
    """The error for a proxy that answered ``status`` instead of forwarding to ``target``."""
    if status == 407:
        fix = ("the proxy wants credentials: put them in the proxy URL, "
               "proxy='http://user:password@host:port' (or in HTTPS_PROXY / HTTP_PROXY)")
    elif status == 403:
        fix = f"the proxy's policy does not allow {target}; ask its admin, or list the host in NO_PROXY"
    else:
        fix = f"the proxy could not reach {target}"
    return ProxyFailure(f"proxy {proxy} answered {status} {reason}: {fix}", status=status)


def parse_proxy(url: str) -> ProxyURL:
    """``http(s)://[user:password@]host[:port]`` → :class:`ProxyURL`; anything else is a ConfigError."""
    u = urlsplit(url.strip() if "://" in url else f"http://{url.strip()}")  # curl takes a bare host:port
    shown = _redact(url)
    if u.scheme not in ("http", "https"):
        raise ConfigError(f"proxy {shown!r}: only http:// and https:// proxies are supported; for a SOCKS "
                          "proxy pass an httpx.AsyncClient configured for it as http_client=")
    if not u.hostname:
        raise ConfigError(f"proxy {shown!r} has no host; pass e.g. proxy='http://proxy.example:3128'")
    try:
        port = u.port or (443 if u.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"proxy {shown!r} has a bad port") from exc
    auth = None
    if u.username is not None:
        pair = f"{unquote(u.username)}:{unquote(u.password or '')}".encode()
        auth = "Basic " + base64.b64encode(pair).decode("ascii")
    return ProxyURL(u.scheme, u.hostname, port, auth)


def _redact(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        return url
    return f"{scheme}{sep}***@{hostpart}" if userinfo else url


def _get(env: Mapping[str, str], lower: str) -> str | None:
    for name in (lower, lower.upper()):
        if name == "HTTP_PROXY" and "REQUEST_METHOD" in env:
            continue  # httpoxy: a CGI request can set HTTP_PROXY through a 'Proxy:' header
        value = env.get(name)
        if value and value.strip():
            return value.strip()
    return None


def env_proxy_for(scheme: str, host: str, port: int, env: Mapping[str, str] | None = None) -> ProxyURL | None:
    """The proxy the environment names for ``scheme://host:port``, or None (direct)."""
    e = os.environ if env is None else env
    raw = _get(e, f"{scheme}_proxy") or _get(e, "all_proxy")
    if raw is None:
        return None
    no_proxy = _get(e, "no_proxy")
    if no_proxy and no_proxy_matches(no_proxy, host, port):
        return None
    return parse_proxy(raw)


def no_proxy_matches(no_proxy: str, host: str, port: int) -> bool:
    """Whether ``host:port`` is listed in a ``NO_PROXY`` value (see the module docstring)."""
    host = host.strip("[]").lower().rstrip(".")
    try:
        ip: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    for entry in no_proxy.replace(" ", ",").split(","):
        entry = entry.strip().lower()
        if not entry:
            continue
        if entry == "*":
            return True
        name, want_port = _split_port(entry)
        if want_port is not None and want_port != port:
            continue
        if ip is not None:
            if _ip_matches(name, ip):
                return True
            continue
        name = name.lstrip("*").lstrip(".").rstrip(".")
        if name and (host == name or host.endswith("." + name)):
            return True
    return False


def _split_port(entry: str) -> tuple[str, int | None]:
    """``host[:port]``, ``[v6][:port]``, a bare IPv6 address, or a network ``a.b.c.d/n``."""
    if entry.startswith("["):
        addr, _, rest = entry[1:].partition("]")
        return addr, int(rest[1:]) if rest.startswith(":") and rest[1:].isdigit() else None
    if entry.count(":") == 1:
        name, _, p = entry.partition(":")
        if p.isdigit():
            return name, int(p)
    return entry, None


def _ip_matches(name: str, ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        if "/" in name:
            return ip in ipaddress.ip_network(name, strict=False)
        return ip == ipaddress.ip_address(name)
    except ValueError:
        return False
