"""``TrialModule``: grid search over every ``Option`` in a module tree.

For each combination of choices, a deep copy of the module is made with those choices fixed
(an Option deep-copies to its current choice), then driven through train → deploy → eval in
its own session, and stopped. Trials run concurrently up to ``concurrency``; one failing trial
is recorded in its result and does not stop the others.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

from ._concurrency import gather
from ._context import session
from ._exceptions import ConfigError
from .modules.base import ModuleBase
from .option import OptionIter

__all__ = ["TrialModule", "TrialResult"]


@dataclass
class TrialResult:
    """One combination: the chosen ``values`` (in ``m.options`` order), its ``eval_result``
    and, when the trial failed, the ``error``."""

    values: list[Any]
    eval_result: Any = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _suboptions(choice: Any) -> list[Any]:
    return choice.options if isinstance(choice, ModuleBase) else []


class TrialModule:
    """``await TrialModule(m).update()`` → one :class:`TrialResult` per combination."""

    def __init__(self, m: ModuleBase, *, concurrency: int = 4) -> None:
        if not isinstance(m, ModuleBase):
            raise ConfigError(f"TrialModule needs a module, got {type(m).__name__}")
        if concurrency < 1:
            raise ConfigError(f"TrialModule concurrency must be >= 1, got {concurrency}")
        self.m = m
        self.concurrency = concurrency
        self.results: list[TrialResult] = []

    def combinations(self) -> list[tuple[list[Any], ModuleBase]]:
        """Every combination with its own copy of the module (choices fixed)."""
        out = []
        for values in OptionIter(self.m.options, _suboptions):
            out.append((values, copy.deepcopy(self.m)))
        return out

    async def _run_one(self, values: list[Any], trial: ModuleBase) -> TrialResult:
        with session():
            try:
                await trial.update()
                return TrialResult(values, trial.eval_result)
            except Exception as exc:
                return TrialResult(values, error=exc)
            finally:
                await trial.stop()

    async def update(self) -> list[TrialResult]:
        jobs = [functools.partial(self._run_one, values, trial) for values, trial in self.combinations()]
        self.results = await gather(jobs, limit=self.concurrency)
        return self.results
