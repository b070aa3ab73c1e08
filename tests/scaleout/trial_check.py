"""Runs the crashy trial (scaleout_targets.Crashy: its worker dies in deploy) on a launcher and
counts how many times it ran; shared by the Ray and Slurm fault tests."""

from __future__ import annotations

from typing import Any

import anyio

import asyncllm as al

__all__ = ["crashy_runs"]


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
