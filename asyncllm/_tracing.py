"""Optional OpenTelemetry instrumentation: ``al.instrument()`` turns it on, ``al.instrument(False)`` off.

With it on, the globally configured tracer provider (or the one given) receives:

* a span per module call (name: the module's name; ``asyncllm.module.*`` attributes) and per
  plain-callable flow item, nested as the flows nest (parallel branches are siblings: anyio
  copies the context into each branch); a failure is recorded on the span, a cancellation is
  marked ``asyncllm.cancelled`` and not reported as an error;
* on model calls (online chat and embeddings, local engines), the OpenTelemetry GenAI semantic
  conventions: ``gen_ai.operation.name``, ``gen_ai.provider.name``, request/response model,
  token usage, finish reasons, a ``gen_ai.first_chunk`` event on streams; message content only
  with ``capture_content=True``;
* HTTP client spans (method, URL without secrets, status, retries as events), with the W3C
  ``traceparent`` sent along, and server spans on served modules that continue the caller's
  trace: a pipeline that calls a served module is one trace.

Off (the default) it costs nothing: nothing from ``opentelemetry`` is imported, and the call
paths are the plain ones — ``instrument()`` (asyncllm/_instrument.py, above the modules and
flows it patches) swaps traced versions of ``ModuleBase.__call__`` and ``FlowBase._call_item``
in (and back out); the model and HTTP layers check the one global here, ``TRACER``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, MutableMapping
from typing import Any

import orjson

__all__ = ["TRACER", "http_span", "model_span", "server_span"]

TRACER: Any = None  # the tracer while instrumentation is on (set by _instrument.py); None when off
CAPTURE_CONTENT = False


def _mark(span: Any, exc: BaseException) -> None:
    """A failure recorded on ``span``; a cancellation only marked."""
    import anyio

    try:
        cancelled = isinstance(exc, anyio.get_cancelled_exc_class())
    except Exception:  # no event loop in this thread
        cancelled = False
    if cancelled:
        span.set_attribute("asyncllm.cancelled", True)
        return
    if isinstance(exc, Exception):
        from opentelemetry.trace import Status, StatusCode

        span.record_exception(exc)
        span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"[:500]))


def _module_attributes(module: Any) -> dict[str, Any]:
    attrs = {"asyncllm.module.id": module.id, "asyncllm.module.class": type(module).__qualname__}
    if module.name:
        attrs["asyncllm.module.name"] = module.name
    return attrs


# ------------------------------------------------------------------------------ streams


@contextlib.contextmanager
def stream_span(module: Any) -> Iterator[Any]:
    """A module span for a stream read step by step (``None`` when off): the caller makes it
    current around each step with :func:`step`, so work inside a step nests under it."""
    tracer = TRACER
    if tracer is None:
        yield None
        return
    span = tracer.start_span(module.display_name, attributes=_module_attributes(module))
    try:
        yield span
    except BaseException as exc:
        _mark(span, exc)
        raise
    finally:
        span.end()


@contextlib.contextmanager
def step(span: Any) -> Iterator[None]:
    from opentelemetry import context, trace

    token = context.attach(trace.set_span_in_context(span))
    try:
        yield
    finally:
        context.detach(token)


# ------------------------------------------------------------------------------ model calls


def model_span() -> Any:
    """The span of the module call in progress, to carry a model call's GenAI attributes (None when off)."""
    if TRACER is None:
        return None
    from opentelemetry import trace

    span = trace.get_current_span()
    return span if span.is_recording() else None


def genai_request(span: Any, operation: str, provider: str, model: str | None,
                  messages: Any = None) -> None:
    """The request side of a model call (OpenTelemetry GenAI semantic conventions)."""
    span.update_name(f"{operation} {model}" if model else operation)
    span.set_attribute("gen_ai.operation.name", operation)
    span.set_attribute("gen_ai.provider.name", provider or "unknown")
    if model:
        span.set_attribute("gen_ai.request.model", model)
    if CAPTURE_CONTENT and messages is not None:
        span.set_attribute("gen_ai.input.messages", orjson.dumps(messages, default=str).decode())


def genai_first_chunk(span: Any) -> None:
    span.add_event("gen_ai.first_chunk")


def genai_response(span: Any, *, model: str | None = None, usage: Mapping[str, int] | None = None,
                   finish: str | None = None, output: Any = None) -> None:
    if model:
        span.set_attribute("gen_ai.response.model", model)
    if usage:
        if (p := usage.get("prompt_tokens", -1)) >= 0:
            span.set_attribute("gen_ai.usage.input_tokens", p)
        if (c := usage.get("completion_tokens", -1)) >= 0:
            span.set_attribute("gen_ai.usage.output_tokens", c)
    if finish:
        span.set_attribute("gen_ai.response.finish_reasons", [finish])
    if CAPTURE_CONTENT and output is not None:
        span.set_attribute("gen_ai.output.messages", orjson.dumps(output, default=str).decode())


# ------------------------------------------------------------------------------ HTTP


@contextlib.contextmanager
def http_span(method: str, url: str, redacted_url: str, headers: MutableMapping[str, str]) -> Iterator[Any]:
    """A client span for one HTTP call (``None`` when off); the W3C trace context goes into
    ``headers`` so that a served module continues the trace."""
    tracer = TRACER
    if tracer is None:
        yield None
        return
    from urllib.parse import urlsplit

    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    parts = urlsplit(url)
    attrs: dict[str, Any] = {"http.request.method": method, "url.full": redacted_url,
                             "server.address": parts.hostname or ""}
    if parts.port:
        attrs["server.port"] = parts.port
    with tracer.start_as_current_span(method, kind=SpanKind.CLIENT, attributes=attrs, record_exception=False,
                                      set_status_on_exception=False) as span:
        propagate.inject(headers)
        try:
            yield span
        except BaseException as exc:
            _mark(span, exc)
            if isinstance(exc, Exception):
                span.set_attribute("error.type", type(exc).__name__)
            raise


def open_http_span(method: str, url: str, redacted_url: str, headers: MutableMapping[str, str]) -> Any:
    """A started (not current) client span for a stream: the caller makes it current with
    :func:`step` while it sends, and ends it when the stream closes. The trace context goes
    into ``headers``."""
    from urllib.parse import urlsplit

    from opentelemetry import propagate, trace
    from opentelemetry.trace import SpanKind

    parts = urlsplit(url)
    attrs: dict[str, Any] = {"http.request.method": method, "url.full": redacted_url,
                             "server.address": parts.hostname or ""}
    if parts.port:
        attrs["server.port"] = parts.port
    span = TRACER.start_span(method, kind=SpanKind.CLIENT, attributes=attrs)
    propagate.inject(headers, context=trace.set_span_in_context(span))
    return span


def fail(span: Any, exc: BaseException) -> None:
    """Record ``exc`` on ``span`` (a cancellation is only marked)."""
    _mark(span, exc)
    if isinstance(exc, Exception):
        span.set_attribute("error.type", type(exc).__name__)


def http_status_here(status: int) -> None:
    """The answer's status, on the HTTP span in progress."""
    from opentelemetry import trace

    trace.get_current_span().set_attribute("http.response.status_code", status)


def retry_event(attempt: int, exc: BaseException | None) -> None:
    """A retry of the HTTP call in progress (the ``attempt``-th try), as an event on its span."""
    from opentelemetry import trace

    trace.get_current_span().add_event("http.retry", {"attempt": attempt,
                                                      "reason": type(exc).__name__ if exc else ""})


# ------------------------------------------------------------------------------ served requests


@contextlib.contextmanager
def server_span(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> Iterator[Any]:
    """A server span for one served request, child of the caller's span when its request
    carries a W3C ``traceparent`` (``None`` when off)."""
    tracer = TRACER
    if tracer is None:
        yield None
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    carrier = {k.decode("latin-1"): v.decode("latin-1") for k, v in headers
               if k in (b"traceparent", b"tracestate", b"baggage")}
    parent = propagate.extract(carrier)
    with tracer.start_as_current_span(f"{method} {path}", context=parent, kind=SpanKind.SERVER,
                                      record_exception=False, set_status_on_exception=False,
                                      attributes={"http.request.method": method, "url.path": path,
                                                  "http.route": path}) as span:
        try:
            yield span
        except BaseException as exc:
            _mark(span, exc)
            raise


def span_ids() -> tuple[int | None, int | None]:
    """(span id, parent span id) of the current span, for trace records (None, None when off)."""
    if TRACER is None:
        return None, None
    from opentelemetry import trace

    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return None, None
    parent = getattr(span, "parent", None)  # the SDK's spans know their parent
    return ctx.span_id, getattr(parent, "span_id", None)
