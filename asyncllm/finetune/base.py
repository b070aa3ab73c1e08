"""``Finetuner``: the contract of a fine-tune method, and progress reporting.

``finetune_method(al.finetune.X, **kw)`` stores ``X`` and ``kw``; at ``update()`` the module
builds ``X(**kw)`` and awaits ``finetuner(base_model, target_path, trainset)``, which returns
the path of the tuned model to deploy (a GGUF file, a merged model directory, or — for
``dummy`` — ``target_path`` itself). Long jobs report progress as dicts (``{"step", "loss",
...}``, ``{"event": ...}``): shown on the progress display (:mod:`asyncllm._progress`: loading,
then steps with loss and ETA, then writing the model), logged at DEBUG on ``asyncllm.finetune``
and passed to the optional ``progress=`` callback (sync or async).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, Self

from .._progress import Progress, progress
from .._requires import Requires

__all__ = ["FinetuneDisplay", "Finetuner", "ProgressCallback", "log"]

log = logging.getLogger("asyncllm.finetune")

ProgressCallback = Callable[[dict[str, Any]], Any]


class Finetuner(Requires):
    """Base of every fine-tune method."""

    name: ClassVar[str] = ""
    #: it reads the base model's files (a hub id is downloaded first); dummy does not
    needs_model: ClassVar[bool] = True
    #: it takes ``trust_remote_code`` (TrainableModule passes its own setting on)
    takes_trust_remote_code: ClassVar[bool] = False

    def __init__(self, *, progress: ProgressCallback | None = None, **kw: Any) -> None:
        self.progress = progress
        #: where the worker runs: None / al.launchers.local() here, or al.launchers.ray()/slurm()
        self.launcher = kw.pop("launcher", None)
        self.kw = kw
        self._display: FinetuneDisplay | None = None

    def display(self, base_model: str) -> FinetuneDisplay:
        """The progress display of one run (a context manager); :meth:`report` feeds it."""
        self._display = FinetuneDisplay(f"finetune.{self.name} {Path(base_model).name}", self.kw.get("steps"))
        return self._display

    def __repr__(self) -> str:
        return f"<finetune.{self.name} {self.kw}>"

    @classmethod
    def needed_for(cls) -> str:
        return f"finetune.{cls.name}"

    async def report(self, event: dict[str, Any]) -> None:
        if "step" in event:
            total = self.kw.get("steps")
            loss = event.get("loss")
            log.debug("finetune.%s step %s%s loss %s", self.name, event["step"], f"/{total}" if total else "", loss)
        else:
            log.debug("finetune.%s %s", self.name, event)
        if self._display is not None:
            self._display.feed(event)
        if self.progress is not None:
            out = self.progress(event)
            if inspect.isawaitable(out):
                await out

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        raise NotImplementedError


class FinetuneDisplay:
    """A fine-tune's events on the progress display, in three phases: loading the model (until
    the ``loaded`` event, which may carry the ``steps`` total, or the first step), the steps (loss,
    ETA), writing the tuned model (after the last step, or the ``trained`` event)."""

    def __init__(self, desc: str, steps: Any = None) -> None:
        self.desc = desc
        self.steps = int(steps) if isinstance(steps, int | float) and not isinstance(steps, bool) else None
        self._phase: Progress | None = None
        self._stepping = False

    def __enter__(self) -> Self:
        self._phase = progress(self.desc)
        self._phase.note("loading the model")
        return self

    def __exit__(self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if self._phase is not None:
            self._phase.__exit__(et, exc, tb)
            self._phase = None

    def _next(self, p: Progress) -> None:
        if self._phase is not None:
            self._phase.close()
        self._phase = p

    def feed(self, event: dict[str, Any]) -> None:
        if event.get("event") == "loaded":
            if isinstance(event.get("steps"), int):
                self.steps = event["steps"]
            self._steps_begin()  # the rate and ETA count from here, not from the model loading
        if "step" in event:
            self._steps_begin()
            assert self._phase is not None
            fields = {"loss": event["loss"]} if isinstance(event.get("loss"), int | float) else {}
            self._phase.update(1, **fields)
            if self.steps is not None and event["step"] >= self.steps:
                self._writing()
        elif event.get("event") in ("trained", "merged") and self._stepping:
            self._writing()

    def _steps_begin(self) -> None:
        if not self._stepping:
            self._stepping = True
            self._next(progress(self.desc, total=self.steps, unit="steps"))

    def _writing(self) -> None:
        if self._phase is not None and self._phase.total is not None:
            p = progress(self.desc)
            p.note("writing the tuned model")
            self._next(p)
