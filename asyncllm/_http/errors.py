"""Every failure as the asyncllm error tree: status errors typed from the answer, timeouts naming
their setting, transport failures mapped in one place (:class:`_TransportErrors`); secrets
scrubbed from messages; which of these errors are worth another attempt (:func:`_should_retry`,
what ``retry.py``'s policy asks).
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx
import orjson

from asyncllm._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    ProxyError,
    QuotaExceededError,
    TLSError,
    status_error_class,
)
from asyncllm._http_answer import Answer
from asyncllm._proxy import ProxyFailure
from asyncllm._tls import TLSFailure

from .settings import HTTPSettings

_SECRET_HEADERS = ("authorization", "x-api-key", "api-key", "x-goog-api-key", "proxy-authorization")
# A provider's own masked echo of a key, e.g. OpenAI's "sk-proj-****...abcd": visible head and
# tail around a run of asterisks or dots.
_MASK_RUN = re.compile(r"\*{2,}|\.{3,}|…")
_MASKED = re.compile(rf"[\w.-]*?(?:{_MASK_RUN.pattern})[\w-]*")


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


_RETRY_STATUS = frozenset({408, 409, 429})
# Answers that say the request did not run: the only ones a non-idempotent request repeats.
_NOT_RUN_STATUS = frozenset({408, 429})


def _should_retry(s: HTTPSettings) -> Callable[[BaseException], bool]:
    """Whether a failed attempt is worth repeating under ``s`` (the retry policy in ``retry.py``
    asks; which error means what is decided here, next to the mapping that made the error)."""
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


class _TransportErrors:
    """``with _TransportErrors(call, settings):`` a transport failure (httpx's, or an OSError from a
    socket) becomes our typed error for ``call`` (:func:`_transport_error`, the one mapping). The
    per-request and per-read paths call ``_transport_error`` from a plain ``try`` instead: a try
    costs nothing until something is raised."""

    __slots__ = ("call", "settings")

    def __init__(self, call: _Call, settings: HTTPSettings) -> None:
        self.call = call
        self.settings = settings

    def __enter__(self) -> None:
        return None

    def __exit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, httpx.TransportError | OSError):
            raise _transport_error(self.call, exc, self.settings) from exc
