"""``al.instrument()``: swap traced versions of the module and flow call paths in, and back out.

The span helpers and the one global the model and HTTP layers check (``TRACER``) live in
``_tracing.py``, low in the package; this file patches ``ModuleBase.__call__`` and
``FlowBase._call_item``, so it sits above both (``_tracing`` never imports them).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from . import _tracing
from ._exceptions import MissingDependencyError
from ._version import __version__
from .flows.base import FlowBase
from .modules.base import ModuleBase

__all__ = ["instrument"]

_ORIGINALS: dict[str, Any] = {}


def instrument(enabled: bool = True, *, capture_content: bool = False, tracer_provider: Any = None) -> None:
    """Turn OpenTelemetry tracing on (or off with ``False``); see the module docstring.

    Needs the ``opentelemetry-api`` package (``pip install 'asyncllm[otel]'``); spans go to the
    global tracer provider unless ``tracer_provider`` is given. ``capture_content``: also record
    the messages sent to and received from models (off: they may hold personal data).
    """
    if not enabled:
        _tracing.TRACER = None
        for owner, name in ((ModuleBase, "__call__"), (FlowBase, "_call_item")):
            if (original := _ORIGINALS.pop(f"{owner.__name__}.{name}", None)) is not None:
                setattr(owner, name, original)
        return
    try:
        from opentelemetry import trace
    except ImportError as exc:
        raise MissingDependencyError("opentelemetry-api", "otel", "al.instrument() tracing") from exc
    provider = tracer_provider or trace.get_tracer_provider()
    _tracing.TRACER = provider.get_tracer("asyncllm", __version__)
    _tracing.CAPTURE_CONTENT = bool(capture_content)
    if "ModuleBase.__call__" not in _ORIGINALS:
        _ORIGINALS["ModuleBase.__call__"] = ModuleBase.__call__
        _ORIGINALS["FlowBase._call_item"] = FlowBase._call_item
        ModuleBase.__call__ = _traced_call(ModuleBase.__call__)  # type: ignore[method-assign,assignment]
        FlowBase._call_item = _traced_item(FlowBase._call_item)  # type: ignore[method-assign,assignment]


def _traced_call(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def __call__(self: Any, *args: Any, **kw: Any) -> Any:
        tracer = _tracing.TRACER
        if tracer is None:
            return await original(self, *args, **kw)
        with tracer.start_as_current_span(self.display_name, attributes=_tracing._module_attributes(self),
                                          record_exception=False, set_status_on_exception=False) as span:
            try:
                return await original(self, *args, **kw)
            except BaseException as exc:
                _tracing._mark(span, exc)
                raise

    return __call__


def _traced_item(original: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def _call_item(self: Any, i: int, value: Any, kw: dict[str, Any]) -> Any:
        tracer = _tracing.TRACER
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
                _tracing._mark(span, exc)
                raise

    return _call_item
