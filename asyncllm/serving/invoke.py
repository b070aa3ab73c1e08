"""How the server calls what it serves: ``pre`` → target → ``post``, for any callable.

* The target may be a module (``await m(*args, **kw)``: hooks, session and streaming all
  apply), a coroutine function, a plain function, or an async-generator function (its items
  are streamed as chunks and joined into the result, as a streaming module's are).
* ``pre`` receives the positional input and returns the new input. When the input is one
  dict (or ``kwargs``) whose keys are exactly ``pre``'s parameter names, it is splatted into
  them. Keyword arguments from the caller are *not* given to ``pre``; they reach the target
  untouched (LazyLLM dropped them).
* ``post`` receives the output; when it takes a second positional parameter (or a
  keyword-only one) it also gets the original input, as in LazyLLM.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from .._concurrency import call_any, is_async_callable
from .._types import kwargs as kwargs_type
from .._types import package
from ..modules.base import ModuleBase

__all__ = ["Invoker"]


def _params(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return []


def _is_agen(fn: Any) -> bool:
    """An async generator function, or an object whose ``__call__`` is one."""
    return inspect.isasyncgenfunction(fn) or inspect.isasyncgenfunction(type(fn).__call__)


class Invoker:
    """Calls ``target`` with the server-side ``pre``/``post`` around it."""

    def __init__(self, target: Any, pre: Callable[..., Any] | None = None,
                 post: Callable[..., Any] | None = None) -> None:
        self.target = target
        self.pre = pre
        self.post = post
        self._pre_names = {p.name for p in _params(pre) if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)} \
            if pre is not None else set()
        self._post_mode, self._post_kw = self._post_shape(post)
        self.name = target.display_name if isinstance(target, ModuleBase) else \
            getattr(target, "__qualname__", type(target).__name__)
        # What the target is, and whether any part may suspend, are fixed: decided once here,
        # not inspected again for every request. ``may_suspend`` is False when every part is a
        # plain sync callable: such a call never yields to the event loop, so a client
        # disconnect could not interrupt it and watching for one is wasted.
        self._target_kind = "module" if isinstance(target, ModuleBase) else "agen" if _is_agen(target) else "call"
        parts = [p for p in (target, pre, post) if p is not None]
        self.may_suspend = any(isinstance(p, ModuleBase) or is_async_callable(p) or _is_agen(p) for p in parts)

    @staticmethod
    def _post_shape(post: Callable[..., Any] | None) -> tuple[str, str | None]:
        if post is None:
            return "none", None
        params = _params(post)
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        kwonly = [p for p in params if p.kind == p.KEYWORD_ONLY]
        if len(positional) >= 2 or any(p.kind == p.VAR_POSITIONAL for p in params):
            return "positional", None
        if kwonly:
            return "keyword", kwonly[0].name
        return "output", None

    async def __call__(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        origin = args[0] if len(args) == 1 else package(args)
        if self.pre is not None:
            args = (await self._run_pre(args),)
            if isinstance(args[0], package):
                args = tuple(args[0])
        out = await self._run_target(args, kw)
        if self._post_mode == "none":
            return out
        assert self.post is not None
        if self._post_mode == "positional":
            return await call_any(self.post, out, origin)
        if self._post_mode == "keyword":
            assert self._post_kw is not None
            return await call_any(self.post, out, **{self._post_kw: origin})
        return await call_any(self.post, out)

    async def _run_pre(self, args: tuple[Any, ...]) -> Any:
        assert self.pre is not None
        if len(args) == 1 and isinstance(args[0], dict) and self._pre_names \
                and set(args[0]) == self._pre_names:
            return await call_any(self.pre, **args[0])
        return await call_any(self.pre, *args)

    async def _run_target(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        target, kind = self.target, self._target_kind
        if kind == "module":
            return await target(*args, **kw)
        if args and isinstance(args[0], kwargs_type):
            kw = {**args[0], **kw}
            args = args[1:]
        if kind == "agen":
            return await _drain(target(*args, **kw), self.name)
        return await call_any(target, *args, **kw)


async def _drain(agen: Any, name: str) -> Any:
    from ..streaming.channel import emit

    pieces: list[Any] = []
    try:
        async for piece in agen:
            pieces.append(piece)
            await emit(piece, module=name)
    finally:
        await agen.aclose()
    if all(isinstance(p, str) for p in pieces):
        return "".join(pieces)
    return pieces
