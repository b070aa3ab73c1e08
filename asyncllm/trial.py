"""``TrialModule``: grid search over every ``Option`` in a module tree.

For each combination of choices, a deep copy of the module is made with those choices fixed
(an Option deep-copies to its current choice), then driven through train → deploy → eval in
its own session, and stopped. Trials run concurrently up to ``concurrency``; one failing trial
is recorded in its result and does not stop the others.

With ``launcher=al.launchers.ray(...)`` (or any non-local launcher) each trial runs where the
launcher puts it (a Ray task): the module must then be importable (``pkg.mod:name``, or an
object defined at module level), since workers import it and pick their combination by index;
eval results come back as wire-format data (tuples become lists) and a failed trial's error
as a :class:`ModuleExecutionError` naming the original type and message. A remote trial whose
worker dies (a crash, an out-of-memory kill, a lost node) is recorded as failed, not run again:
a fine-tune repeated behind your back costs its time again and repeats its side effects.
``retries=N`` opts in to at most N re-runs of such a trial (a trial that raises is never re-run).
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from ._concurrency import gather
from ._context import session
from ._exceptions import ConfigError, ModuleExecutionError
from ._progress import progress
from .modules.base import ModuleBase
from .option import OptionIter

__all__ = ["TrialModule", "TrialResult"]

log = logging.getLogger("asyncllm.trial")


@dataclass(repr=False)
class TrialResult:
    """One combination: the chosen ``values`` (in ``m.options`` order), its ``eval_result``
    (None when the trial's module has no ``evalset``), when the trial failed the ``error``, and
    where the models it fine-tuned were written (``model_paths``: module name → path;
    ``model_path``: the one path, when the trial tuned one model)."""

    values: list[Any]
    eval_result: Any = None
    error: BaseException | None = None
    model_paths: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def model_path(self) -> str | None:
        paths = set(self.model_paths.values())
        return next(iter(paths)) if len(paths) == 1 else None

    def __repr__(self) -> str:
        text = f"TrialResult(values={self.values!r}, eval_result={self.eval_result!r}, error={self.error!r}"
        if self.model_path is not None:
            text += f", model_path={self.model_path!r}"
        elif self.model_paths:
            text += f", model_paths={self.model_paths!r}"
        return text + ")"


def tuned_models(root: ModuleBase) -> dict[str, str]:
    """Name → path of every fine-tuned model in the tree (``TrainableModule.finetuned_model_path``)."""
    from .modules.lifecycle import post_order

    out: dict[str, str] = {}
    for m in post_order(root):
        path = getattr(m, "finetuned_model_path", None)
        if isinstance(path, str) and path not in out.values():
            out[m.display_name] = path
    return out


def _suboptions(choice: Any) -> list[Any]:
    return choice.options if isinstance(choice, ModuleBase) else []


class TrialModule:
    """``await TrialModule(m).update()`` → one :class:`TrialResult` per combination."""

    def __init__(self, m: ModuleBase | str, *, concurrency: int = 4, launcher: Any = None,
                 retries: int = 0) -> None:
        self._target: str | None = None
        if isinstance(m, str):
            from ._importpath import locate, resolve

            self._target = locate(m, "the trial module")
            m = resolve(self._target)
        if not isinstance(m, ModuleBase):
            raise ConfigError(f"TrialModule needs a module, got {type(m).__name__}")
        if concurrency < 1:
            raise ConfigError(f"TrialModule concurrency must be >= 1, got {concurrency}")
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigError(f"TrialModule retries must be an int >= 0 (re-runs of a trial whose worker died), "
                              f"got {retries!r}")
        self.m = m
        self.concurrency = concurrency
        self.retries = retries
        self.launcher = launcher
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
                return TrialResult(values, trial.eval_result, model_paths=tuned_models(trial))
            except Exception as exc:
                return TrialResult(values, error=exc, model_paths=tuned_models(trial))
            finally:
                await trial.stop()

    async def update(self) -> list[TrialResult]:
        if self.m._evalset is None:
            log.warning("TrialModule: %s has no evalset, so every eval_result will be None; give it one with "
                        ".evalset([...]) to compare the trials", self.m.display_name)
        if self.launcher is not None and getattr(self.launcher, "kind", "local") != "local":
            self.results = await self._update_remote()
            return self.results
        combos = self.combinations()
        with progress("grid search", total=len(combos), unit="trials") as shown:
            failed = 0

            async def one(values: list[Any], trial: ModuleBase) -> TrialResult:
                nonlocal failed
                result = await self._run_one(values, trial)
                if not result.ok:
                    failed += 1
                    shown.update(0, failed=failed)
                shown.update()
                return result

            jobs = [functools.partial(one, values, trial) for values, trial in combos]
            self.results = await gather(jobs, limit=self.concurrency)
        return self.results

    async def _update_remote(self) -> list[TrialResult]:
        from ._importpath import locate
        from .serving.wire import from_wire

        target = self._target or locate(self.m, "the trial module")
        all_values = list(OptionIter(self.m.options, _suboptions))
        where = getattr(self.launcher, "kind", "a launcher")
        with progress(f"grid search of {len(all_values)} trials on {where}"):
            more = {"retries": self.retries} if self.retries else {}  # launchers from before retries
            outcomes = await self.launcher.run_trials(target, range(len(all_values)), concurrency=self.concurrency,
                                                      **more)
        results = []
        for values, out in zip(all_values, outcomes, strict=True):
            paths = dict(getattr(out, "model_paths", None) or {})
            if out.error is not None:
                err = ModuleExecutionError(f"trial {out.index} {values!r} failed: {out.error}")
                results.append(TrialResult(values, error=err, model_paths=paths))
            else:
                results.append(TrialResult(values, from_wire(out.eval_result), model_paths=paths))
        return results
