"""Calling user code of any colour: sync callables inline, coroutine functions awaited,
callables marked with :func:`to_thread` in a worker thread (so they never block the loop)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.to_thread

__all__ = ["call_any", "gather", "is_async_callable", "to_thread"]

T = TypeVar("T")


class to_thread:
    """Mark a blocking callable so flows and hooks run it in a worker thread."""

    def __init__(self, fn: Callable[..., Any], *, limiter: anyio.CapacityLimiter | None = None) -> None:
        if not callable(fn):
            raise TypeError(f"to_thread() needs a callable, got {type(fn).__name__}")
        self.fn = fn
        self.limiter = limiter
        functools.update_wrapper(self, fn)

    async def __call__(self, *args: Any, **kw: Any) -> Any:
        return await anyio.to_thread.run_sync(functools.partial(self.fn, *args, **kw), limiter=self.limiter)

    def __repr__(self) -> str:
        return f"to_thread({getattr(self.fn, '__qualname__', self.fn)!r})"


def is_async_callable(fn: Any) -> bool:
    """True when calling ``fn`` returns an awaitable we must await (coroutine function or
    an object whose ``__call__`` is one)."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if isinstance(fn, to_thread):
        return True
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(type(fn).__call__)


async def call_any(fn: Callable[..., T | Awaitable[T]], *args: Any, **kw: Any) -> T:
    """Call ``fn`` whatever its colour; await the result when it is awaitable."""
    result = fn(*args, **kw)
    if inspect.isawaitable(result):
        return await result  # type: ignore[no-any-return]
    return result  # type: ignore[return-value]


async def gather(
    jobs: Sequence[Callable[[], Awaitable[Any]]], *, limit: int | None = None
) -> list[Any]:
    """Run ``jobs`` concurrently in one task group; results in job order.

    The first failure cancels the others and is raised as itself (not wrapped in a group).
    ``limit`` bounds how many run at once.
    """
    results: list[Any] = [None] * len(jobs)
    failure: list[BaseException] = []
    limiter = anyio.CapacityLimiter(limit) if limit else None

    async def run(i: int, job: Callable[[], Awaitable[Any]], scope: anyio.CancelScope) -> None:
        try:
            if limiter is None:
                results[i] = await job()
            else:
                async with limiter:
                    results[i] = await job()
        except Exception as exc:
            if not failure:
                failure.append(exc)
            scope.cancel()

    async with anyio.create_task_group() as tg:
        for i, job in enumerate(jobs):
            tg.start_soon(run, i, job, tg.cancel_scope)
    if failure:
        raise failure[0]
    return results
