"""Calling user code of any colour: sync callables inline, coroutine functions awaited,
callables marked with :func:`to_thread` in a worker thread (so they never block the loop)."""

from __future__ import annotations

import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import anyio
import anyio.lowlevel
import anyio.to_thread
import sniffio

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
        return await result
    return result


async def gather(
    jobs: Sequence[Callable[[], Awaitable[Any]]], *, limit: int | None = None
) -> list[Any]:
    """Run ``jobs`` concurrently; results in job order.

    The first failure cancels the others and is raised as itself (not wrapped in a group).
    ``limit`` bounds how many run at once. Cancelling the caller cancels every job, and
    ``gather`` returns only when all of them have ended.
    """
    limiter = anyio.CapacityLimiter(limit) if limit else None
    if sniffio.current_async_library() == "asyncio":
        return await _gather_asyncio(jobs, limiter)
    return await _gather_trio(jobs, limiter)


async def _run_job(job: Callable[[], Awaitable[Any]], limiter: anyio.CapacityLimiter) -> Any:
    async with limiter:
        return await job()


async def _gather_trio(
    jobs: Sequence[Callable[[], Awaitable[Any]]], limiter: anyio.CapacityLimiter | None
) -> list[Any]:
    """The jobs in a native trio nursery: anyio's trio task group is that nursery plus a task
    handle and a wrapper coroutine per task (anyio 4.16), which made a 1,000-branch parallel
    cost more than the raw task group it is held to (benchmarks/core_overhead.py). The rules are
    the nursery's, as under anyio: a failure cancels the nursery's scope (shielded work still
    finishes), a cancelled caller cancels every job, and the nursery waits for all of them."""
    import trio  # the running library (sniffio said so); an extra, so imported only here

    results: list[Any] = [None] * len(jobs)
    failure: list[BaseException] = []

    async def run(i: int, job: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[i] = await (job() if limiter is None else _run_job(job, limiter))
        except Exception as exc:
            if not failure:
                failure.append(exc)
            nursery.cancel_scope.cancel()

    try:
        async with trio.open_nursery() as nursery:
            for i, job in enumerate(jobs):
                nursery.start_soon(run, i, job)
    except BaseExceptionGroup as group:
        # Only cancellations (the caller's): one Cancelled, as anyio's task group raises, so an
        # ``except get_cancelled_exc_class()`` above still sees it.
        if group.split(trio.Cancelled)[1] is None:
            leaf: BaseException = group
            while isinstance(leaf, BaseExceptionGroup):  # nested nurseries nest their groups
                leaf = leaf.exceptions[0]
            raise leaf from group
        raise
    if failure:
        raise failure[0]
    return results


class _AsyncioGroup:
    """The state of one :func:`_gather_asyncio`: what ended, what failed, how to stop the rest.

    Each job is a native asyncio task (anyio 4's task group spends ~18 µs a task on bookkeeping
    of its own, 4x asyncio's; benchmarks/core_overhead.py) inside its own anyio cancel scope:
    stopping cancels those scopes, never the tasks themselves, so a job's shielded cleanup
    (closing a stream, stopping a process) runs to its end as it does under a task group.
    """

    __slots__ = ("done", "failure", "pending", "scopes", "stopping")

    def __init__(self, pending: int) -> None:
        self.pending = pending
        self.failure: BaseException | None = None
        self.stopping = False
        self.scopes: list[anyio.CancelScope] = []
        self.done: asyncio.Future[None] | None = None

    def stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            for scope in self.scopes:
                scope.cancel()

    def fail(self, exc: BaseException) -> None:
        if self.failure is None:
            self.failure = exc
        self.stop()

    def ended(self) -> None:
        self.pending -= 1
        if self.pending == 0 and self.done is not None and not self.done.done():
            self.done.set_result(None)


async def _gather_asyncio(
    jobs: Sequence[Callable[[], Awaitable[Any]]], limiter: anyio.CapacityLimiter | None
) -> list[Any]:
    results: list[Any] = [None] * len(jobs)
    group = _AsyncioGroup(len(jobs))

    async def run(i: int, job: Callable[[], Awaitable[Any]]) -> None:
        # The bookkeeping is here rather than in a done callback: one loop callback less a job.
        try:
            if group.stopping:  # stopped before this job began
                return
            with anyio.CancelScope() as scope:
                group.scopes.append(scope)
                try:
                    results[i] = await (job() if limiter is None else _run_job(job, limiter))
                except Exception as exc:
                    group.fail(exc)
        except BaseException as exc:  # a cancellation that is not ours (so is the gather's), KeyboardInterrupt
            group.fail(exc)
            raise
        finally:
            group.ended()

    loop = asyncio.get_running_loop()
    tasks = []  # asyncio holds tasks weakly: these references keep the jobs alive until they end
    for i, job in enumerate(jobs):
        tasks.append(loop.create_task(run(i, job)))
    cancelled: BaseException | None = None
    while group.pending:
        group.done = loop.create_future()
        try:
            await group.done
        except asyncio.CancelledError as exc:  # the caller is cancelled: stop the jobs, wait for them
            cancelled = cancelled or exc
            group.stop()
    del tasks
    if cancelled is not None:
        raise cancelled
    if group.failure is not None:
        raise group.failure
    await anyio.lowlevel.checkpoint_if_cancelled()  # as a task group's exit would
    return results
