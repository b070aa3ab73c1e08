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
paths are the plain ones — :func:`instrument` swaps traced versions of ``ModuleBase.__call__``
and ``FlowBase._call_item`` in (and back out); the model and HTTP layers check one global.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from typing import Any

import orjson

__all__ = ["TRACER", "http_span", "instrument", "model_span", "server_span"]

TRACER: Any = None  # the tracer while instrumentation is on; None when off
CAPTURE_CONTENT = False
_ORIGINALS: dict[str, Any] = {}


def instrument(enabled: bool = True, *, capture_content: bool = False, tracer_provider: Any = None) -> None:
    """Turn OpenTelemetry tracing on (or off with ``False``); see the module docstring.

    Needs the ``opentelemetry-api`` package (``pip install 'asyncllm[otel]'``); spans go to the
    global tracer provider unless ``tracer_provider`` is given. ``capture_content``: also record
    the messages sent to and received from models (off: they may hold personal data).
    """
    global TRACER, CAPTURE_CONTENT
    from .flows.base import FlowBase
    from .modules.base import ModuleBase

    if not enabled:
        TRACER = None
        for owner, name in ((ModuleBase, "__call__"), (FlowBase, "_call_item")):
            if (original := _ORIGINALS.pop(f"{owner.__name__}.{name}", None)) is not None:
                setattr(owner, name, original)
        return
    try:
        from opentelemetry import trace
    except ImportError as exc:
        from ._exceptions import MissingDependencyError

        raise MissingDependencyError("opentelemetry-api", "otel", "al.instrument() tracing") from exc
    from . import __version__

    provider = tracer_provider or trace.get_tracer_provider()
    TRACER = provider.get_tracer("asyncllm", __version__)
    CAPTURE_CONTENT = bool(capture_content)
    if "ModuleBase.__call__" not in _ORIGINALS:
        _ORIGINALS["ModuleBase.__call__"] = ModuleBase.__call__
        _ORIGINALS["FlowBase._call_item"] = FlowBase._call_item
        ModuleBase.__call__ = _traced_call(ModuleBase.__call__)  # type: ignore[method-assign,assignment]
        FlowBase._call_item = _traced_item(FlowBase._call_item)  # type: ignore[method-assign,assignment]


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


def _traced_call(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def __call__(self: Any, *args: Any, **kw: Any) -> Any:
        tracer = TRACER
        if tracer is None:
            return await original(self, *args, **kw)
        with tracer.start_as_current_span(self.display_name, attributes=_module_attributes(self),
                                          record_exception=False, set_status_on_exception=False) as span:
            try:
                return await original(self, *args, **kw)
            except BaseException as exc:
                _mark(span, exc)
                raise

    return __call__


def _traced_item(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    from .modules.base import ModuleBase

    async def _call_item(self: Any, i: int, value: Any, kw: dict[str, Any]) -> Any:
        tracer = TRACER
        if tracer is None or isinstance(self._items[i], ModuleBase):  # a module spans its own call
            return await original(self, i, value, kw)
        label = self._label(i)
        item = self._items[i]
        name = self._item_names[i] or getattr(item, "__name__", None) or type(item).__name__
        with tracer.start_as_current_span(name, record_exception=False, set_status_on_exception=False,
                                          attributes={"asyncllm.flow": self.display_name,
                                                      "asyncllm.flow.item": label}) as span:
            try:
                return await original(self, i, value, kw)
            except BaseException as exc:
                _mark(span, exc)
                raise

    return _call_item


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
