"""Hooks around a module call: ``pre`` → forward → ``post`` | ``on_error`` → ``finalize``.

A hook is registered as an instance (deep-copied for every call), a class (instantiated with the
module for every call) or a plain function (run as a pre hook; a generator function with one
``yield`` is pre before the yield and post after it, receiving the output). Copying per call is
what keeps hook state from leaking between concurrent calls. ``finalize`` runs shielded from
cancellation, so every hook gets to clean up when a call is cancelled. ``pre`` hooks run in priority order,
the other phases in reverse. Every phase may be sync or async.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anyio

from .._concurrency import call_any
from .._exceptions import HookError

if TYPE_CHECKING:
    from .base import ModuleBase

__all__ = ["FuncHook", "Hook", "HookHandle", "HookRunner"]

log = logging.getLogger("asyncllm.hooks")


class Hook:
    """Base class for hooks. Override any phase; each may be ``def`` or ``async def``.

    ``priority``: lower runs its ``pre`` earlier. ``error_mode``: ``'warn'`` logs a failing phase
    and goes on; ``'raise'`` aborts the call with :class:`HookError`.
    """

    priority: ClassVar[int] = 100
    error_mode: ClassVar[Literal["warn", "raise"]] = "warn"

    def __init__(self, module: ModuleBase | None = None) -> None:
        self.module = module

    def pre(self, *args: Any, **kw: Any) -> Any:
        return None

    def post(self, output: Any) -> Any:
        return None

    def on_error(self, exc: BaseException) -> Any:
        return None

    def finalize(self) -> Any:
        return None


class FuncHook(Hook):
    """Adapts a function: plain → pre only; (async) generator with one ``yield`` → pre and post."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn
        self._gen: Generator[Any, Any, Any] | AsyncGenerator[Any, Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> FuncHook:
        return FuncHook(self.fn)

    async def pre(self, *args: Any, **kw: Any) -> None:  # type: ignore[override]
        if inspect.isgeneratorfunction(self.fn):
            gen = self.fn(*args, **kw)
            next(gen)
            self._gen = gen
        elif inspect.isasyncgenfunction(self.fn):
            agen = self.fn(*args, **kw)
            await agen.__anext__()
            self._gen = agen
        else:
            await call_any(self.fn, *args, **kw)

    async def post(self, output: Any) -> None:  # type: ignore[override]
        gen, self._gen = self._gen, None
        if gen is None:
            return
        try:
            if isinstance(gen, AsyncGenerator):
                await gen.asend(output)
            else:
                gen.send(output)
        except (StopIteration, StopAsyncIteration):
            return
        raise HookError(f"hook function {self.fn.__qualname__} must yield exactly once", phase="post")

    async def finalize(self) -> None:  # type: ignore[override]
        gen, self._gen = self._gen, None
        if gen is None:
            return
        if isinstance(gen, AsyncGenerator):
            await gen.aclose()
        else:
            gen.close()

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FuncHook) and other.fn == self.fn

    def __hash__(self) -> int:
        return hash(self.fn)


class HookHandle:
    """Returned by ``register_hook``; ``handle.remove()`` unregisters the hook."""

    def __init__(self, module: ModuleBase, hook: Any) -> None:
        self._module = module
        self.hook = hook

    def remove(self) -> None:
        self._module.unregister_hook(self.hook)


def materialize(spec: Any, module: ModuleBase) -> Hook:
    """A fresh hook object for one call."""
    if isinstance(spec, type):
        return spec(module)  # type: ignore[no-any-return]
    if isinstance(spec, Hook):
        # Copy the hook's own state, not the module it points at (that would clone the tree).
        memo: dict[int, Any] = {id(module): module}
        if spec.module is not None:
            memo[id(spec.module)] = spec.module
        hook = copy.deepcopy(spec, memo)
        if hook.module is None:
            hook.module = module
        return hook
    return FuncHook(spec)


class HookRunner:
    """Runs the phases of one call's hooks with the ordering and error rules above."""

    def __init__(self, specs: list[Any], module: ModuleBase) -> None:
        hooks = [materialize(s, module) for s in specs]
        self.hooks = sorted(hooks, key=lambda h: h.priority)
        self.active: list[Hook] = []

    async def _run(self, hook: Hook, phase: str, *args: Any, **kw: Any) -> None:
        try:
            await call_any(getattr(hook, phase), *args, **kw)
        except Exception as exc:
            if hook.error_mode == "raise":
                raise HookError(f"{type(hook).__name__}.{phase} failed: {exc}", phase=phase) from exc
            log.warning("hook %s.%s failed: %r", type(hook).__name__, phase, exc)

    async def pre(self, *args: Any, **kw: Any) -> None:
        for hook in self.hooks:
            await self._run(hook, "pre", *args, **kw)
            self.active.append(hook)

    async def post(self, output: Any) -> None:
        for hook in reversed(self.active):
            await self._run(hook, "post", output)

    async def on_error(self, exc: BaseException) -> None:
        for hook in reversed(self.active):
            await self._run(hook, "on_error", exc)

    async def finalize(self) -> None:
        first: BaseException | None = None
        # Shielded: finalize is cleanup and runs for every active hook even when the call is
        # being cancelled (the cancellation is re-raised once the block ends).
        with anyio.CancelScope(shield=True):
            for hook in reversed(self.active):
                try:
                    await self._run(hook, "finalize")
                except HookError as exc:  # finalize every hook before reporting the first failure
                    first = first or exc
        if first is not None:
            raise first
