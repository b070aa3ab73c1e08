"""The lifecycle driver behind ``start``/``update``/``eval``/``stop``/``wait``.

Modules are visited depth-first, children before parents, each once (by id). Then:
train tasks run concurrently; deploy tasks run concurrently, each module's only after its own
submodules' have finished (children before parents), and the first failure cancels the rest
and stops whatever had already deployed; eval tasks run in visiting order; post-process tasks
always run. A deploy runs once until ``stop()`` resets it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import anyio

from .._concurrency import call_any
from .._exceptions import AsyncLLMError, ConfigError, LifecycleError

if TYPE_CHECKING:
    from .base import ModuleBase

__all__ = ["post_order", "run_stop", "run_update", "run_wait"]

MODES = ("train", "server", "eval")


def post_order(root: ModuleBase, recursive: bool = True) -> list[ModuleBase]:
    """Every module under ``root`` (and root), children before parents, each id once."""
    if not recursive:
        return [root]
    seen: set[str] = set()
    out: list[ModuleBase] = []
    stack: list[tuple[ModuleBase, Any]] = [(root, iter(root.submodules))]
    seen.add(root.id)
    while stack:
        node, children = stack[-1]
        child = next(children, None)
        if child is None:
            stack.pop()
            out.append(node)
        elif child.id not in seen:
            seen.add(child.id)
            stack.append((child, iter(child.submodules)))
    return out


def _normalize_modes(mode: str | Iterable[str] | None, allowed: tuple[str, ...]) -> tuple[str, ...]:
    modes = (mode,) if isinstance(mode, str) else tuple(mode or MODES)
    for m in modes:
        if m not in allowed:
            raise ConfigError(f"unknown lifecycle mode {m!r}; choose from {', '.join(allowed)}")
    return modes


def _tasks(value: Any) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tasks(v)]
    if not callable(value):
        raise LifecycleError(f"a lifecycle task must be callable, got {value!r}")
    return [value]


async def _run_task(task: Any) -> Any:
    return await call_any(task)


def _lifecycle_error(stage: str, module: ModuleBase, exc: BaseException) -> LifecycleError:
    if isinstance(exc, LifecycleError):
        return exc
    return LifecycleError(f"{stage} of {module.display_name} ({type(module).__name__}) failed: {exc}")


async def _run_concurrently(stage: str, jobs: list[tuple[ModuleBase, Any]]) -> None:
    failure: list[tuple[ModuleBase, BaseException]] = []

    async def one(module: ModuleBase, task: Any, tg: Any) -> None:
        try:
            await _run_task(task)
        except Exception as exc:
            if not failure:
                failure.append((module, exc))
            tg.cancel_scope.cancel()

    async with anyio.create_task_group() as tg:
        for module, task in jobs:
            tg.start_soon(one, module, task, tg)
    if failure:
        module, exc = failure[0]
        raise _lifecycle_error(stage, module, exc) from exc


async def _deploy(modules: list[ModuleBase]) -> None:
    pending = [m for m in modules if not m._deployed]
    work = {m.id: _tasks(m._get_deploy_tasks()) for m in pending}
    done = {m.id: anyio.Event() for m in pending}
    started: list[ModuleBase] = []
    failure: list[tuple[ModuleBase, BaseException]] = []

    async def deploy_one(m: ModuleBase, tg: Any) -> None:
        try:
            for child in m.submodules:
                event = done.get(child.id)
                if event is not None:
                    await event.wait()
            started.append(m)
            for task in work[m.id]:
                await _run_task(task)
            m._deployed = True
        except Exception as exc:
            if not failure:
                failure.append((m, exc))
            tg.cancel_scope.cancel()
        finally:
            done[m.id].set()

    async with anyio.create_task_group() as tg:
        for m in pending:
            tg.start_soon(deploy_one, m, tg)
    if failure:
        # Leave nothing half-running: stop every module whose deploy had begun.
        with anyio.CancelScope(shield=True):
            for m in reversed(started):
                with contextlib.suppress(Exception):  # the deploy error is the one to report
                    await m._stop_impl()
                if not m._attached:
                    m._deployed = False
        module, exc = failure[0]
        raise _lifecycle_error("deploy", module, exc) from exc


async def run_update(root: ModuleBase, mode: str | Iterable[str] | None, recursive: bool) -> None:
    modes = _normalize_modes(mode, root.mode_list)
    modules = post_order(root, recursive)
    if "train" in modes:
        jobs = [(m, t) for m in modules for t in _tasks(m._get_train_tasks())]
        if jobs:
            await _run_concurrently("train", jobs)
    if "server" in modes:
        await _deploy(modules)
    if "eval" in modes:
        for m in modules:
            for task in _tasks(m._get_eval_tasks()):
                try:
                    await _run_task(task)
                except AsyncLLMError:
                    raise
                except Exception as exc:
                    raise _lifecycle_error("eval", m, exc) from exc
    for m in modules:
        for task in _tasks(m._get_post_process_tasks()):
            await _run_task(task)


async def run_stop(root: ModuleBase) -> None:
    """Stop parents before children (a server before the engine it calls), each once.

    Shielded: a stop that began finishes even if the caller is cancelled, so nothing is left
    running. Every module is stopped even when one fails; the first failure is raised after.
    """
    first: BaseException | None = None
    with anyio.CancelScope(shield=True):
        for m in reversed(post_order(root)):
            try:
                await m._stop_impl()
            except Exception as exc:
                first = first or exc
            if not m._attached:
                m._deployed = False
    if first is not None:
        raise LifecycleError(f"stop failed: {first}") from first


async def run_wait(root: ModuleBase) -> None:
    async with anyio.create_task_group() as tg:
        for m in post_order(root):
            tg.start_soon(m._wait_impl)
