"""What the Ray and Slurm fault tests share: a running dummy engine to kill (its wait() checked
to wait while it runs), waiting for a handle to notice on its own, and the crashy trial (its
worker dies in deploy) counted run by run."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import anyio

import asyncllm as al
from asyncllm import deploy
from asyncllm.deploy.base import EngineStatus
from asyncllm.trainable import TrainableModule

__all__ = ["crashy_runs", "engine_to_kill", "noticed_end", "until"]


async def until(check: Callable[[], bool], seconds: float) -> None:
    """Wait (nobody polling the handle) until ``check()`` holds; TimeoutError after ``seconds``."""
    with anyio.fail_after(seconds):
        while not check():
            await anyio.sleep(0.1)


@asynccontextmanager
async def engine_to_kill(launcher: Any) -> AsyncIterator[TrainableModule]:
    """A started dummy engine on ``launcher`` that answers, whose ``wait()`` waits while it runs
    (it returned at once for remote engines), and that is stopped at the end whatever happened."""
    m = TrainableModule().deploy_method(deploy.dummy, launcher=launcher).prompt(None)
    await m.start()
    try:
        assert await m("hi")
        with anyio.move_on_after(2) as scope:
            await m.wait()
        assert scope.cancelled_caught
        yield m
    finally:
        await m.stop()


async def noticed_end(m: TrainableModule) -> None:
    """The engine's status turns FAILED on its own, and ``wait()`` then returns."""
    await until(lambda: m.status() is EngineStatus.FAILED, 15)
    with anyio.fail_after(10):
        await m.wait()


async def crashy_runs(launcher: Any, retries: int) -> tuple[al.TrialResult, int]:
    """(the trial's result, how many times it ran) with ``retries`` (0: the default, unset)."""
    from scaleout_targets import CRASH_RUNS

    await anyio.Path(CRASH_RUNS).unlink(missing_ok=True)
    try:
        more = {"retries": retries} if retries else {}  # the default is what is under test
        [result] = await al.TrialModule("scaleout_targets:crashy", launcher=launcher, **more).update()
        runs = (await anyio.Path(CRASH_RUNS).read_text()).splitlines()
    finally:
        await anyio.Path(CRASH_RUNS).unlink(missing_ok=True)
    assert isinstance(result.error, al.ModuleExecutionError), result
    assert ("ran once" if retries == 0 else f"ran {retries + 1} times") in str(result.error)
    return result, len(runs)
