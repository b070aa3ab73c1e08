"""Decorators a served class uses to open more than ``forward`` to the network.

* ``@al.remote_method`` marks a method that clients may call with ``server._call(name, ...)``.
  Nothing else is callable that way: no other attribute, no dunder, no unmarked method.
* ``@al.route("/path", methods=["GET"])`` mounts a method as a custom HTTP route of the
  server. A GET handler receives the query parameters as keyword arguments, any other
  method the JSON object body; it returns a JSON value (or a starlette ``Response``).

Markers are looked up on the most derived class attribute: a method overridden in a
subclass without the decorator is not exposed (the override decides).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from .._exceptions import ConfigError

__all__ = ["find_routes", "is_remote_method", "remote_method", "route"]

F = TypeVar("F", bound=Callable[..., Any])

_REMOTE = "__asyncllm_remote__"
_ROUTE = "__asyncllm_route__"
_RESERVED = ("/generate", "/_call", "/health", "/info", "/v1/")


def remote_method(fn: F) -> F:
    """Allow ``ServerModule._call(fn.__name__, ...)`` to call this method remotely."""
    if fn.__name__.startswith("__"):
        raise ConfigError(f"{fn.__name__} is a dunder; dunder methods cannot be made remotely callable")
    setattr(fn, _REMOTE, True)
    return fn


def route(path: str, methods: Iterable[str] = ("GET",)) -> Callable[[F], F]:
    """Mount the decorated method at ``path`` on the server that serves its object."""
    if not path.startswith("/"):
        raise ConfigError(f"route path {path!r} must start with '/'")
    if any(path == r.rstrip("/") or path.startswith(r) for r in _RESERVED if r != "/"):
        raise ConfigError(f"route path {path!r} collides with a built-in endpoint ({', '.join(_RESERVED)})")
    verbs = tuple(m.upper() for m in methods)

    def mark(fn: F) -> F:
        setattr(fn, _ROUTE, (path, verbs))
        return fn

    return mark


def is_remote_method(obj: Any, name: str) -> bool:
    if not name or name.startswith("__"):
        return False
    attr = getattr(type(obj), name, None)
    return attr is not None and bool(getattr(attr, _REMOTE, False))


def remote_method_names(obj: Any) -> list[str]:
    return sorted(n for n in dir(type(obj)) if is_remote_method(obj, n))


def find_routes(obj: Any) -> list[tuple[str, tuple[str, ...], Callable[..., Any]]]:
    """``(path, methods, bound method)`` for every marked method of ``obj``'s class."""
    out = []
    for name in dir(type(obj)):
        if name.startswith("__"):
            continue
        attr = getattr(type(obj), name, None)
        spec = getattr(attr, _ROUTE, None)
        if spec is not None:
            out.append((spec[0], spec[1], getattr(obj, name)))
    return out
