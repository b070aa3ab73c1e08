"""``Finetuner``: the contract of a fine-tune method, and progress reporting.

``finetune_method(al.finetune.X, **kw)`` stores ``X`` and ``kw``; at ``update()`` the module
builds ``X(**kw)`` and awaits ``finetuner(base_model, target_path, trainset)``, which returns
the path of the tuned model to deploy (a GGUF file, a merged model directory, or — for
``dummy`` — ``target_path`` itself). Long jobs report progress as dicts (``{"step", "loss",
...}``, ``{"event": ...}``): logged at INFO on ``asyncllm.finetune`` and passed to the optional
``progress=`` callback (sync or async).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from typing import Any, ClassVar

from .._exceptions import MissingDependencyError

__all__ = ["Finetuner", "ProgressCallback", "log"]

log = logging.getLogger("asyncllm.finetune")

ProgressCallback = Callable[[dict[str, Any]], Any]


class Finetuner:
    """Base of every fine-tune method."""

    name: ClassVar[str] = ""
    #: (import names, pip name, extra) that must be installed
    requires: ClassVar[tuple[tuple[str, ...], str, str] | None] = None

    def __init__(self, *, progress: ProgressCallback | None = None, **kw: Any) -> None:
        self.progress = progress
        #: where the worker runs: None / al.launchers.local() here, or al.launchers.ray()/slurm()
        self.launcher = kw.pop("launcher", None)
        self.kw = kw

    def __repr__(self) -> str:
        return f"<finetune.{self.name} {self.kw}>"

    @classmethod
    def available(cls) -> bool:
        if cls.requires is None:
            return True
        import importlib.util

        return all(importlib.util.find_spec(n) is not None for n in cls.requires[0])

    @classmethod
    def check_available(cls) -> None:
        if not cls.available():
            assert cls.requires is not None
            raise MissingDependencyError(cls.requires[1], cls.requires[2], f"finetune.{cls.name}")

    async def report(self, event: dict[str, Any]) -> None:
        if "step" in event:
            total = self.kw.get("steps")
            loss = event.get("loss")
            log.info("finetune.%s step %s%s loss %s", self.name, event["step"], f"/{total}" if total else "", loss)
        else:
            log.info("finetune.%s %s", self.name, event)
        if self.progress is not None:
            out = self.progress(event)
            if inspect.isawaitable(out):
                await out

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        raise NotImplementedError
