"""Hooks around a module call: ``pre`` → forward → ``post`` → ``report`` | ``on_error`` → ``finalize``.

A hook is registered as an instance (deep-copied for every call), a class (instantiated with the
module for every call) or a plain function (run as a pre hook; a generator function with one
``yield`` is pre before the yield and post after it, receiving the output). Copying per call is
what keeps hook state from leaking between concurrent calls. ``finalize`` runs shielded from
cancellation, so every hook gets to clean up when a call is cancelled. ``pre`` hooks run in
priority order, ``report`` too (after every ``post``, on success, as the seed does), the other
phases in reverse. Every phase may be sync or async.

The seed's interface works under the seed's name: :class:`LazyLLMHook` (``pre_hook(*args, **kw)``,
``post_hook(output)``, ``report()``, constructed with the hooked object), and any class or object
with those methods is accepted too. Anything else is a :class:`ConfigError` at ``register_hook``.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import AsyncGenerator, Callable, Generator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import anyio

from .._concurrency import call_any
from .._exceptions import ConfigError, HookError

if TYPE_CHECKING:
    from .base import ModuleBase

__all__ = ["FuncHook", "Hook", "HookHandle", "HookRunner", "LazyLLMHook", "check_hook"]

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

    # The defaults run the seed's phase names when a subclass defines them, so a hook ported from
    # LazyLLM onto al.Hook runs instead of being silently skipped.
    def pre(self, *args: Any, **kw: Any) -> Any:
        fn = getattr(self, "pre_hook", None)
        return fn(*args, **kw) if fn is not None else None

    def post(self, output: Any) -> Any:
        fn = getattr(self, "post_hook", None)
        return fn(output) if fn is not None else None

    def report(self) -> Any:
        """After every hook's ``post``, on success (the seed's ``report``)."""
        return None

    def on_error(self, exc: BaseException) -> Any:
        return None

    def finalize(self) -> Any:
        return None


class LazyLLMHook(Hook):
    """The seed's hook base: ``pre_hook(*args, **kw)`` before the call, ``post_hook(output)``
    after it, then ``report()``; constructed with the hooked object (``self.module``).

    A registered class is constructed per call, a registered instance copied per call.
    ``priority`` and ``error_mode`` work as on :class:`Hook`.
    """

    def __init__(self, obj: Any = None) -> None:
        super().__init__(obj)

    def pre_hook(self, *args: Any, **kw: Any) -> Any:
        return None

    def post_hook(self, output: Any) -> Any:
        return None


_PHASES = ("pre", "post", "report", "on_error", "finalize")
_SEED_PHASES = ("pre_hook", "post_hook", "report")


class _Adapted(Hook):
    """A hook object that is not a :class:`Hook` (a seed-style class or object with
    ``pre_hook``/``post_hook``/``report``, or our phase names): its methods run as the phases."""

    def __init__(self, obj: Any) -> None:
        super().__init__(getattr(obj, "module", None))
        self.obj = obj
        self.priority = getattr(obj, "priority", Hook.priority)  # type: ignore[misc]
        self.error_mode = getattr(obj, "error_mode", Hook.error_mode)  # type: ignore[misc]

    def _phase(self, *names: str) -> Any:
        for name in names:
            fn = getattr(self.obj, name, None)
            if callable(fn):
                return fn
        return None

    async def pre(self, *args: Any, **kw: Any) -> None:
        if (fn := self._phase("pre_hook", "pre")) is not None:
            await call_any(fn, *args, **kw)

    async def post(self, output: Any) -> None:
        if (fn := self._phase("post_hook", "post")) is not None:
            await call_any(fn, output)

    async def report(self) -> None:
        if (fn := self._phase("report")) is not None:
            await call_any(fn)

    async def on_error(self, exc: BaseException) -> None:
        if (fn := self._phase("on_error")) is not None:
            await call_any(fn, exc)

    async def finalize(self) -> None:
        if (fn := self._phase("finalize")) is not None:
            await call_any(fn)


def _has_phases(obj: Any) -> bool:
    return any(callable(getattr(obj, name, None)) for name in (*_PHASES, *_SEED_PHASES))


def check_hook(hook: Any) -> None:
    """Refuse, at registration, what could not run as a hook (instead of failing every call)."""
    if isinstance(hook, Hook):
        return
    if isinstance(hook, type):
        if issubclass(hook, Hook) or _has_phases(hook):
            return
        raise ConfigError(f"{hook.__qualname__} is not a hook: subclass al.Hook (phases pre/post/report/"
                          "on_error/finalize) or al.LazyLLMHook (pre_hook/post_hook/report), or register a "
                          "function")
    if _has_phases(hook) or callable(hook):
        return
    raise ConfigError(f"a hook must be a Hook or LazyLLMHook (class or instance), an object with "
                      f"pre_hook/post_hook/report, or a function; got {hook!r}")

class FuncHook(Hook):
    """Adapts a function: plain → pre only; (async) generator with one ``yield`` → pre and post."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        super().__init__()
        self.fn = fn
        self._gen: Generator[Any, Any, Any] | AsyncGenerator[Any, Any] | None = None

    def __deepcopy__(self, memo: dict[int, Any]) -> FuncHook:
        return FuncHook(self.fn)

    async def pre(self, *args: Any, **kw: Any) -> None:
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

    async def post(self, output: Any) -> None:
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

    async def finalize(self) -> None:
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
        made = spec(module)
        return made if isinstance(made, Hook) else _Adapted(made)
    if isinstance(spec, Hook):
        # Copy the hook's own state, not the module it points at (that would clone the tree).
        memo: dict[int, Any] = {id(module): module}
        if spec.module is not None:
            memo[id(spec.module)] = spec.module
        hook = copy.deepcopy(spec, memo)
        if hook.module is None:
            hook.module = module
        return hook
    if _has_phases(spec):  # a seed-style hook object: copied per call, like a Hook instance
        return _Adapted(copy.deepcopy(spec, {id(module): module}))
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
        """Every ``post`` (in reverse), then every ``report`` (in order): the call succeeded."""
        for hook in reversed(self.active):
            await self._run(hook, "post", output)
        for hook in self.active:
            await self._run(hook, "report")

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
