"""Streamed answers: :func:`stream_sse` opens an event stream (SSE, or NDJSON for Ollama) read
event by event under the idle deadline.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any

import httpx

from asyncllm import _tracing
from asyncllm._exceptions import (
    APIError,
    ProtocolError,
)
from asyncllm._http_answer import Answer, ReadDeadline, Sender
from asyncllm.streaming.sse import MAX_EVENT_BYTES, SSEDecoder, SSEEvent

from .deadlines import _Deadlines
from .errors import _Call, _redact_url, _transport_error, _TransportErrors
from .requests import _NOOP, _decoded, _json_sender, _status_with_hint
from .retry import _retried
from .settings import _ERROR_BODY_LIMIT, DEFAULT_SETTINGS, HTTPSettings

_NEVER = float("inf")


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

    Each read waits at most the idle timeout and never past the total deadline, so a stalled
    peer surfaces as ``APITimeoutError`` instead of hanging; the caller's own time between
    events does not count as the peer being idle. ``response`` gives the status and headers.
    """

    __slots__ = ("_call", "_decoder", "_dl", "_eof", "_idle", "_pending", "_phase", "_until", "response")

    def __init__(self, answer: Answer, call: _Call, dl: _Deadlines, decoder: SSEDecoder | NDJSONDecoder | None = None,
                 ) -> None:
        self.response = answer
        self._call = call
        self._dl = dl
        self._decoder = decoder if decoder is not None else SSEDecoder()
        self._pending: deque[SSEEvent] = deque()
        self._eof = False
        # What a read may wait for: set by stream_sse (first the first-chunk deadline, then idle).
        self._idle, self._until, self._phase = dl.idle, dl.total, "idle"

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
            await self._read()
        return self._pending.popleft()

    async def batch(self) -> deque[SSEEvent]:
        """Every event decoded so far, reading first when there is none; empty at the end.

        The same events as iterating, taken a read at a time: a model's stream reader (online
        chat) loops over them without an ``__anext__`` call per event.
        """
        while not self._pending:
            if self._eof:
                return self._pending
            await self._read()
        events, self._pending = self._pending, deque()
        return events

    async def _read(self) -> None:
        """Read one chunk within the deadlines and decode it."""
        # try/except rather than the _TransportErrors context manager: this runs once per read of
        # every stream, and a try costs nothing until something is raised.
        try:
            chunk = await self.response.read_within(self._idle, self._until)
        except ReadDeadline:
            raise self._dl.error(self._call, self._phase) from None
        except (httpx.TransportError, OSError) as exc:
            raise _transport_error(self._call, exc, self._dl.s) from exc
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
        with _TransportErrors(call, dl.s):
            while chunk := await answer.read_within(dl.idle, dl.total):
                chunks.append(chunk)
                size += len(chunk)
                if size >= _ERROR_BODY_LIMIT:
                    break
            else:
                complete = True
    except ReadDeadline:
        raise dl.error(call, "idle") from None
    finally:
        await answer.aclose(complete)
    return _decoded(answer, b"".join(chunks))


class _OpenStream:
    """What :func:`stream_sse` returns: the call's state and its ``async with``.

    A slotted object, not an ``@asynccontextmanager`` generator: every call in flight holds it,
    and a generator (its frame, its wrapper, the closures of its attempt) costs several times
    as much memory (benchmarks/inflight_memory.py).
    """

    __slots__ = ("call", "dl", "events", "ndjson", "on_open", "s", "send", "span")

    def __init__(self, send: Sender, call: _Call, s: HTTPSettings, on_open: Callable[[Answer], None] | None,
                 ndjson: bool, span: Any) -> None:
        self.send, self.call, self.s, self.on_open, self.ndjson, self.span = send, call, s, on_open, ndjson, span
        self.dl = _Deadlines(s)
        self.events: SSEStream | None = None

    async def _attempt(self) -> SSEStream:
        # The first-chunk deadline covers everything up to the first *event*: a keep-alive
        # comment is not a first token.
        call, dl = self.call, self.dl
        deadline = dl.start_attempt()
        stream: SSEStream | None = None
        answer: Answer | None = None
        try:
            # A plain try, not _TransportErrors: the open of every stream runs it.
            try:
                answer = await self.send(deadline)
            except (httpx.TransportError, OSError) as exc:
                raise _transport_error(call, exc, self.s) from exc
            if answer.status_code >= 400:
                raise _status_with_hint(call, answer, await _error_body(answer, call, dl))
            stream = SSEStream(answer, call, dl, NDJSONDecoder() if self.ndjson else None)
            if self.on_open is not None:
                self.on_open(answer)
            stream._idle, stream._until, stream._phase = _NEVER, deadline, "first_chunk"
            while not stream._pending and not stream._eof:
                await stream._read()
            stream._idle, stream._until, stream._phase = dl.idle, dl.total, "idle"
        except BaseException as exc:
            if stream is not None:
                await stream.aclose()
            elif answer is not None and answer.status_code < 400:
                await answer.aclose(False)
            if isinstance(exc, ReadDeadline):  # the headers did not come in time
                raise dl.error(call, "first_chunk") from None
            raise
        return stream

    async def __aenter__(self) -> SSEStream:
        # The first attempt is made here rather than through _with_retries: one frame less
        # waits with every call in flight. Traced, the span is current only while the request
        # is made (retries included), not while the caller reads the events (it runs its own
        # work then); it ends when the stream closes.
        span = self.span
        try:
            with _NOOP if span is None else _tracing.step(span):
                try:
                    self.events = await self._attempt()
                    return self.events
                except APIError as exc:
                    failed = exc
                self.events = await _retried(self.s, self.call, self.dl, self._attempt, failed)
                return self.events
        except BaseException as exc:
            if span is not None:
                _tracing.fail(span, exc)
                span.end()
            raise

    async def __aexit__(self, tp: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        span = self.span
        try:
            if self.events is not None:
                await self.events.aclose()
        except BaseException as close_exc:
            if span is not None:
                _tracing.fail(span, close_exc)
            raise
        finally:
            if span is not None:
                if exc is not None:
                    _tracing.fail(span, exc)
                span.end()


def stream_sse(
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
) -> AbstractAsyncContextManager[SSEStream]:
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
    try:
        send = _json_sender(method, url, s, hdrs, json)
    except BaseException as exc:  # nothing was sent; the span _OpenStream would end ends here
        if span is not None:
            _tracing.fail(span, exc)
            span.end()
        raise
    return _OpenStream(send, _Call(url, headers, provider, model), s, on_open, ndjson, span)
