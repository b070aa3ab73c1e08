"""The network options a module takes as keywords (:class:`HTTPOptions`), defined once, and the
one builder that turns them into its :class:`~asyncllm._http.settings.HTTPSettings`.

An online provider's constructor takes them as ``**http: Unpack[HTTPOptions]`` (PEP 692), the
way pydantic-ai's ``ModelSettings`` is one ``TypedDict`` that every model takes: a new option is
one key here and one line in :func:`http_settings`, and type checkers and IDEs still see each
keyword with its type. Since ``**http`` would also swallow a misspelt keyword, :func:`reject_unknown`
turns any key that is not an option into the ``TypeError`` Python gives for an unknown keyword,
with the nearest valid name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any, TypedDict, Unpack

import httpx

from asyncllm._config import config
from asyncllm._proxy import ENV
from asyncllm._tls import CertSpec, Verify

from .settings import DEFAULT_SETTINGS, HTTPSettings

__all__ = ["HTTP_OPTIONS", "HTTPOptions", "http_settings", "reject_unknown"]


class HTTPOptions(TypedDict, total=False):
    """The network keywords of every online module (all optional; seconds).

    A timeout or retry option left out (or None) takes its ``ASYNCLLM_HTTP_*`` setting.
    """

    timeout: float | None
    """The whole call's deadline, retries and a stream's reading included (``total_timeout``)."""
    connect_timeout: float | None
    """Opening the connection (TCP, TLS, a proxy's tunnel)."""
    first_chunk_timeout: float | None
    """From the request sent to the answer's first bytes (a stream's first event)."""
    idle_timeout: float | None
    """The longest wait between two reads of an answer: a stream's events, and the reads of a
    whole body too (a large embeddings answer takes several)."""
    max_retries: int | None
    """Attempts after the first one, for failures worth a retry (``_http/errors.py``)."""
    retry_backoff: float | None
    """The first backoff between attempts (doubling, jittered), unless the answer names one."""
    proxy: str | None
    """``"env"`` (the default: the standard proxy variables), ``None`` (direct) or a proxy URL."""
    verify: Verify
    """Whom to trust: True (the default CA bundle), a CA bundle path, an ``ssl.SSLContext``, or False."""
    cert: CertSpec | None
    """The client certificate for mutual TLS: a PEM path or ``(certfile, keyfile[, password])``."""
    http_client: httpx.AsyncClient | httpx.AsyncBaseTransport | None
    """The caller's own ``httpx.AsyncClient`` (or transport), used instead of the pools."""


#: the option names, in their documented order
HTTP_OPTIONS: tuple[str, ...] = tuple(HTTPOptions.__annotations__)


def http_settings(*, no_proxy: bool = False, **options: Unpack[HTTPOptions]) -> HTTPSettings:
    """HTTPSettings from the config defaults and a module's options.

    ``no_proxy`` is the provider class's ``NO_PROXY`` (the seed's switch): it turns the default
    ``proxy="env"`` into no proxy; an explicit proxy URL still wins.
    """
    def pick(name: str, setting: str) -> Any:
        value = options.get(name)
        return config.get(setting) if value is None else value

    proxy = options.get("proxy", ENV)
    max_retries = options.get("max_retries")
    retry_backoff = options.get("retry_backoff")
    return HTTPSettings(
        proxy=None if no_proxy and proxy == ENV else proxy, verify=options.get("verify", True),
        cert=options.get("cert"), client=options.get("http_client"),
        connect_timeout=float(pick("connect_timeout", "http_connect_timeout")),
        first_chunk_timeout=float(pick("first_chunk_timeout", "http_first_chunk_timeout")),
        idle_timeout=float(pick("idle_timeout", "http_idle_timeout")),
        total_timeout=float(pick("timeout", "http_total_timeout")),
        max_attempts=1 + int(max_retries) if max_retries is not None else int(config.get("http_max_attempts")),
        backoff_base=DEFAULT_SETTINGS.backoff_base if retry_backoff is None else retry_backoff,
    )


def reject_unknown(owner: str, options: Mapping[str, object], keywords: Iterable[str]) -> None:
    """Raise the ``TypeError`` for keywords of ``owner``'s constructor that landed in its
    ``**http`` but are no network option: each with the nearest valid name, and the valid ones.
    ``keywords`` are the constructor's other keyword names (a typo of ``model`` lands here too)."""
    unknown = [k for k in options if k not in HTTP_OPTIONS]
    if not unknown:
        return
    own = [k for k in keywords if k not in HTTP_OPTIONS]
    valid = [*own, *HTTP_OPTIONS]
    named = []
    for key in unknown:
        close = difflib.get_close_matches(key, valid, n=1)
        named.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    what = "an unexpected keyword argument" if len(unknown) == 1 else "unexpected keyword arguments"
    raise TypeError(f"{owner}() got {what} {', '.join(named)}. Network options: {', '.join(HTTP_OPTIONS)}"
                    + (f"; its other keywords: {', '.join(own)}" if own else ""))
