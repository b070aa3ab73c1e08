"""One trial of a TrialModule, run by index where a launcher puts it (a Ray task, this process).

The module tree is reached by import path, never shipped: the worker imports ``target``,
enumerates the same Option combinations as the driver (the order is deterministic), and runs
combination ``index`` through train → deploy → eval in its own session. What comes back is
plain data: the eval result in the served-module wire format, or the error as
``"Type: message"``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

import anyio

__all__ = ["run_trial", "run_trial_blocking"]


async def run_trial(target: str, index: int) -> dict[str, Any]:
    from .._importpath import resolve
    from ..serving.wire import to_wire
    from ..trial import TrialModule

    try:
        combos = TrialModule(resolve(target)).combinations()
        if not 0 <= index < len(combos):
            raise IndexError(f"trial {index} out of range: the grid of {target} has {len(combos)} combinations")
        values, trial = combos[index]
        # Run through TrialModule's own runner so local and remote trials behave alike.
        result = await TrialModule(trial)._run_one(values, trial)
        if result.error is not None:
            return {"index": index, "eval_result": None, "error": _describe(result.error),
                    "model_paths": result.model_paths}
        return {"index": index, "eval_result": to_wire(result.eval_result, "eval result"), "error": None,
                "model_paths": result.model_paths}
    except Exception as exc:
        return {"index": index, "eval_result": None, "error": _describe(exc)}


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def run_trial_blocking(target: str, index: int, sys_path: Sequence[str] = (),
                       backend: str = "asyncio") -> dict[str, Any]:
    """Synchronous entry for a worker process (a Ray task may not be ``async def``)."""
    for p in reversed(list(sys_path)):
        if p not in sys.path:
            sys.path.insert(0, p)
    result: dict[str, Any] = anyio.run(run_trial, target, index, backend=backend)
    return result
