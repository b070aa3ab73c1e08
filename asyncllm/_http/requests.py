"""Whole requests: :func:`request_json` and :func:`request_raw` (send, read the body, type the
errors, retry).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import httpx
import orjson

from asyncllm import _tracing
from asyncllm._exceptions import (
    APIError,
    APIStatusError,
    ProtocolError,
    ProxyError,
    WireError,
)
from asyncllm._http_answer import Answer, ReadDeadline, Sender, sender
from asyncllm._provider_errors import refine_status_error
from asyncllm._proxy import proxy_refusal

from .deadlines import _Deadlines
from .errors import _Call, _redact_url, _status_error, _transport_error
from .pools import _parse_url, _transport_for
from .retry import _with_retries
from .settings import _ERROR_BODY_LIMIT, DEFAULT_SETTINGS, HTTPSettings


def _json_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    hdrs = dict(headers) if headers else {}
    if not any(k.lower() == "content-type" for k in hdrs):
        hdrs["content-type"] = "application/json"
    return hdrs


def _json_body(value: Any) -> bytes:
    """``value`` as JSON, in a bytes object of its own size.

    orjson hands back its working buffer as the bytes object: 4 KiB for a tiny body, about ten
    times the length for long text (room reserved for escapes). A request body lives as long as
    its call (a retry sends it again), so with thousands of calls in flight that slack is most
    of a call's memory (benchmarks/inflight_memory.py); one copy (a memcpy) drops it.
    """
    try:
        return bytes(memoryview(orjson.dumps(value)))
    except orjson.JSONEncodeError as exc:  # a TypeError that would say neither what nor how to fix
        raise WireError(
            f"the request body cannot be sent as JSON ({exc}): every argument and option that goes "
            "into a request must be str, int, float, bool, None, a list or a dict with str keys; "
            "pass an object's fields rather than the object"
        ) from exc


def _json_sender(method: str, url: str, s: HTTPSettings, headers: Mapping[str, str] | None,
                 json: Any) -> Sender:
    parsed, origin = _parse_url(url)
    if json is not None:
        body: bytes | None = _json_body(json)
        hdrs = _json_headers(headers)
    else:
        body, hdrs = None, dict(headers) if headers else {}
    return sender(_transport_for(origin, s), method, url, parsed, hdrs, body, s.connect_timeout)


async def _exchange(send: Sender, call: _Call, dl: _Deadlines) -> tuple[Answer, bytes]:
    """One attempt: send, read the whole body, end the answer. A non-2xx status raises its
    typed error (its body read only up to a limit).

    The transport keeps the deadlines: the first-chunk one (capped by the total) until the
    headers arrive, then the idle one between reads (capped by the total).
    """
    phase = "first_chunk"
    answer: Answer | None = None
    chunks: list[bytes] = []
    complete = False
    try:
        answer = await send(dl.start_attempt())
        if _tracing.TRACER is not None:
            _tracing.http_status_here(answer.status_code)
        phase = "idle"
        limit = _ERROR_BODY_LIMIT if answer.status_code >= 400 else None
        size = 0
        idle, total = dl.idle, dl.total
        while chunk := await answer.read_within(idle, total):
            chunks.append(chunk)
            size += len(chunk)
            if limit is not None and size >= limit:
                break
        else:
            complete = True
    except ReadDeadline:
        raise dl.error(call, phase) from None
    # A plain try, not _TransportErrors: this runs for every request (a try costs nothing until raised).
    except (httpx.TransportError, OSError) as exc:
        raise _transport_error(call, exc, dl.s) from exc
    finally:
        if answer is not None:
            await answer.aclose(complete)
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


_UNTRACED = nullcontext()


def _span(method: str, url: str, headers: Mapping[str, str] | None,
          ) -> tuple[Mapping[str, str] | None, AbstractContextManager[Any]]:
    """With tracing on (``al.instrument()``): the headers to send, which carry the W3C trace
    context once the returned HTTP client span is entered; off: ``headers`` and a no-op.

    Entered in the request function itself, not a wrapper around it: a wrapper's frame and
    keyword dict would wait with every call in flight.
    """
    if _tracing.TRACER is None:
        return headers, _UNTRACED
    traced = dict(headers or {})
    return traced, _tracing.http_span(method, url, _redact_url(url), traced)


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
    headers, span = _span(method, url, headers)
    with span:
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
    headers, span = _span(method, url, headers)
    with span:
        parsed, origin = _parse_url(url)
        if json is not None:
            content, hdrs = _json_body(json), _json_headers(headers)
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
