"""The served-module wire format: JSON values (orjson), tagged asyncllm types, session header.

Everything that crosses the network between a served module and its client goes through
here, so the whole protocol is readable in one file. There is no pickle and no other
code-executing format in either direction.

* ``POST /generate`` body: ``{"args": [...], "kwargs": {...}}``; answer ``{"output": ...,
  "usage": {...}?}``; with ``Accept: text/event-stream`` the answer is SSE: ``chunk`` events
  ``{"text", "module", "tag", "data"?}``, then one ``result`` event (the same object as the
  non-streamed answer) or one ``error`` event.
* ``POST /_call`` body: ``{"method": name, "args": [...], "kwargs": {...}}``.
* Errors: ``{"error": {"type", "message", "module"?}}`` with a 4xx/5xx status.
* Values are JSON. asyncllm's own argument types keep their meaning through tagged objects:
  ``package`` → ``{"__asyncllm__": "package", "items": [...]}``, ``kwargs`` →
  ``{"__asyncllm__": "kwargs", "value": {...}}``; a user dict that happens to hold the tag
  key is wrapped as ``{"__asyncllm__": "dict", "value": {...}}`` so it is never misread.
  Tuples become lists (JSON has no tuple). Anything else raises :class:`WireError`.
* Session context travels in the ``x-asyncllm-session`` header as base64url(JSON) (headers
  must be ASCII; chat history often is not).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
from collections.abc import Mapping
from typing import Any, Protocol

import orjson

from .._exceptions import WireError
from .._query import QUERY_PREFIX
from .._types import kwargs as kwargs_type
from .._types import package

__all__ = [
    "SESSION_HEADER",
    "WireError",
    "WireGuard",
    "decode_session",
    "dumps",
    "encode_session",
    "error_body",
    "from_wire",
    "to_wire",
]

TAG = "__asyncllm__"
SESSION_HEADER = "x-asyncllm-session"
_PRIMITIVES = (str, int, float, bool, type(None))
# orjson writes at most this many levels: deeper outputs cannot be sent anyway.
MAX_DEPTH = 255



def to_wire(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON data (tagging package/kwargs); raises :class:`WireError`."""
    try:
        return _to_wire(value, where)
    except RecursionError:
        raise WireError(f"{where} is nested too deeply to travel as JSON (at most {MAX_DEPTH} levels)") from None


def _to_wire(value: Any, where: str) -> Any:
    t = type(value)
    if t in _PRIMITIVES:
        return value
    if isinstance(value, package):
        return {TAG: "package", "items": [_to_wire(v, where) for v in value]}
    if isinstance(value, kwargs_type):
        return {TAG: "kwargs", "value": _dict_to_wire(value, where)}
    if isinstance(value, dict):
        out = _dict_to_wire(value, where)
        return {TAG: "dict", "value": out} if TAG in value else out
    if isinstance(value, (list, tuple)):
        return [_to_wire(v, where) for v in value]
    # str/int/float subclasses (Chunk, IntEnum, ...) as their plain values
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    # Structured outputs (output_type=): a pydantic model or a dataclass travels as its fields.
    if callable(dump := getattr(value, "model_dump", None)):
        return _to_wire(dump(mode="json"), where)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _to_wire(dataclasses.asdict(value), where)
    raise WireError(
        f"{where} of type {t.__module__}.{t.__qualname__} cannot travel to or from a served module: "
        "only JSON values (str, int, float, bool, None, list, dict with str keys) and "
        "al.package / al.kwargs can; convert it first (e.g. to a dict or a string)"
    )


def _dict_to_wire(d: Mapping[Any, Any], where: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if not isinstance(k, str):
            raise WireError(f"{where}: dict key {k!r} is not a str; JSON objects only have string keys")
        out[k] = _to_wire(v, where)
    return out


class WireGuard(Protocol):
    """Checks values from an untrusted peer while :func:`from_wire` decodes them."""

    def text(self, value: str) -> str:
        """A string that starts with ``<lazyllm-query>``: it names files (checked, maybe rewritten)."""
        ...

    def kwargs(self, value: dict[str, Any]) -> dict[str, Any]:
        """An ``al.kwargs`` value: its keys become keyword arguments of some module."""
        ...


def from_wire(data: Any, guard: WireGuard | None = None) -> Any:
    """The inverse of :func:`to_wire` (tagged objects back into package/kwargs).

    With ``guard`` (a server decoding a caller's values), ``<lazyllm-query>`` strings and
    ``al.kwargs`` values anywhere in ``data`` pass through it. Data nested deeper than Python's
    recursion allows is a :class:`WireError`.
    """
    try:
        return _from_wire(data, guard)
    except RecursionError:
        raise WireError(f"the value is nested too deeply (JSON sent to or from a served module has at most "
                        f"{MAX_DEPTH} levels)") from None


def _from_wire(data: Any, guard: WireGuard | None) -> Any:
    t = type(data)
    if t is str:
        return guard.text(data) if guard is not None and data.startswith(QUERY_PREFIX) else data
    if t is list:
        return [_from_wire(v, guard) for v in data]
    if t is not dict:
        return data
    tag = data.get(TAG)
    if tag is None:
        return {k: _from_wire(v, guard) for k, v in data.items()}
    if tag == "package" and isinstance(data.get("items"), list):
        return package(tuple(_from_wire(v, guard) for v in data["items"]))
    if tag == "kwargs" and isinstance(data.get("value"), dict):
        value = {k: _from_wire(v, guard) for k, v in data["value"].items()}
        return kwargs_type(guard.kwargs(value) if guard is not None else value)
    if tag == "dict" and isinstance(data.get("value"), dict):
        return {k: _from_wire(v, guard) for k, v in data["value"].items()}
    raise WireError(f"unknown tagged value {TAG}={tag!r}; the peer speaks another asyncllm wire version")


def dumps(value: Any) -> bytes:
    """JSON bytes of plain wire data; what JSON cannot hold is a :class:`WireError` that says why."""
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        raise WireError(f"the value cannot be sent as JSON ({exc}): integers must fit in 64 bits, "
                        "nesting must be at most 255 deep, strings must be valid Unicode") from None


def encode_session(data: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(data)).decode("ascii")


def decode_session(header: str) -> dict[str, Any]:
    """Parse the session header; raises :class:`WireError` with what is wrong."""
    try:
        data = orjson.loads(base64.urlsafe_b64decode(header.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError) as exc:
        raise WireError(f"the {SESSION_HEADER} header is not base64url-encoded JSON") from exc
    if not isinstance(data, dict):
        raise WireError(f"the {SESSION_HEADER} header must hold a JSON object")
    return data


def error_body(type_: str, message: str, module: str | None = None, **extra: Any) -> dict[str, Any]:
    err: dict[str, Any] = {"type": type_, "message": message}
    if module:
        err["module"] = module
    err.update(extra)
    return {"error": err}
