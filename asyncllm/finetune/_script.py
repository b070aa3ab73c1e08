"""``ScriptFinetuner``: a GPU fine-tune run through another project's training script, then merged.

``finetune.alpacalora`` and ``finetune.collie`` are this: the project's script trains a LoRA
adapter into ``<target>/lora`` (its own command line, built by the subclass from the script's
documented flags), then ``_merge_lora.py`` folds it into the base model in ``<target>/merged``
(the folder returned, deployed and listed by ``get_all_models``; ``merge=False`` returns the
adapter instead). Both steps go through :func:`~asyncllm.finetune._runner.run_worker`, so a
cancelled fine-tune kills the script's whole process group, and a ``launcher=`` (Ray, Slurm) runs
them on a GPU node.

Before anything runs here it refuses clearly: the project not installed (a
:class:`~asyncllm.MissingDependencyError` naming how to get it), no GPU on this machine (a
:class:`~asyncllm.ConfigError` naming ``finetune.cpu_lora`` and ``launcher=``), an option the
script does not take (a ``ConfigError`` listing those it does).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import anyio

from .._config import config
from .._exceptions import ConfigError, MissingDependencyError
from .._requires import missing_imports
from ..deploy._hardware import gpu_available
from ..launchers.jobs import is_remote
from ._runner import run_worker
from .base import Finetuner

__all__ = ["ScriptFinetuner", "Step", "script_value"]

#: a step of the plan: the argv and the folder it runs in (None: anywhere)
Step = tuple[list[str], str | None]

_MERGE = "asyncllm.finetune._merge_lora"
# Our own keywords, never passed to the script.
_OURS = frozenset({"timeout", "trust_remote_code", "merge"})


def script_value(value: Any) -> str:
    """A value as both python-fire and argparse read it from ``--key=value``: lists as
    ``[a,b]`` (fire parses that as a list; the collie script splits it on commas)."""
    if isinstance(value, list | tuple):
        return "[" + ",".join(str(v) for v in value) + "]"
    return str(value)


class ScriptFinetuner(Finetuner):
    """Base of the GPU fine-tunes driven through a project's script; see the module docstring."""

    takes_trust_remote_code = True
    #: the options the script takes (each tied to its source in the subclass)
    flags: ClassVar[frozenset[str]] = frozenset()
    #: the seed's aliases (``auto_map``): our name → the script's
    auto_map: ClassVar[Mapping[str, str]] = {}
    #: Python packages the script imports
    packages: ClassVar[tuple[str, ...]] = ()
    #: how to install the project (the end of a MissingDependencyError)
    install: ClassVar[str] = ""
    #: why it needs a GPU (the start of the refusal)
    gpu_reason: ClassVar[str] = ""

    #: the setting (``ASYNCLLM_<SETTING>``) saying where the project is
    setting: ClassVar[str] = ""
    #: the training script's name inside the folder the setting names; "": it names the script
    script_in_folder: ClassVar[str] = ""

    # -- what subclasses provide --------------------------------------------------------------

    def train_steps(self, base_model: str, trainset: str, lora_dir: Path, opts: dict[str, Any]) -> list[Step]:
        raise NotImplementedError

    # -- shared -------------------------------------------------------------------------------

    @classmethod
    def configured(cls) -> Path | None:
        """What :attr:`setting` names (``~`` expanded), or None when it is not set."""
        raw = str(config.get(cls.setting) or "")
        return Path(raw).expanduser() if raw else None

    @classmethod
    def script(cls) -> Path | None:
        """The project's training script when it is configured and exists, else None."""
        path = cls.configured()
        if path is not None and cls.script_in_folder:
            path = path / cls.script_in_folder
        return path if path is not None and path.is_file() else None

    @classmethod
    def missing(cls) -> list[str]:
        """What is not here: the script, then each package it imports."""
        gone = [] if cls.script() is not None else ["its training script"]
        return gone + missing_imports(cls.packages)

    @classmethod
    def available(cls) -> bool:
        return not cls.missing()

    @classmethod
    def check_available(cls) -> None:
        if gone := cls.missing():
            raise MissingDependencyError(f"{cls.needed_for()}'s {', '.join(gone)}", "", cls.needed_for(),
                                         how=cls.install)

    def options(self) -> dict[str, Any]:
        """The keywords as the script's flags: aliases mapped, ours dropped, unknown refused."""
        opts = {self.auto_map.get(k, k): v for k, v in self.kw.items() if k not in _OURS}
        unknown = sorted(set(opts) - self.flags)
        if unknown:
            raise ConfigError(f"finetune.{self.name} does not take {unknown}: its script takes "
                              f"{', '.join(sorted(self.flags))} (and timeout, merge)")
        return opts

    def merge_step(self, base_model: str, lora_dir: Path, merged: Path) -> Step:
        argv = [sys.executable, "-m", _MERGE, "--base", base_model,
                "--adapter", str(lora_dir), "--out", str(merged)]
        if self.kw.get("trust_remote_code"):
            argv.append("--trust-remote-code")
        return argv, None

    def plan(self, base_model: str, target_path: str, trainset: str) -> list[Step]:
        """Every step this run takes, in order (no side effects: tests read it)."""
        target = Path(target_path)
        steps = self.train_steps(base_model, trainset, target / "lora", self.options())
        if self.kw.get("merge", True):
            steps.append(self.merge_step(base_model, target / "lora", target / "merged"))
        return steps

    def result(self, target_path: str) -> str:
        return str(Path(target_path) / ("merged" if self.kw.get("merge", True) else "lora"))

    def refuse_here(self) -> None:
        """Runs here (no remote launcher): the project and a GPU must be on this machine."""
        if is_remote(self.launcher):
            return  # the node it runs on is checked by the job itself
        self.check_available()
        if not gpu_available():
            raise ConfigError(f"finetune.{self.name} needs an NVIDIA GPU ({self.gpu_reason}) and this machine has "
                              "none: fine-tune a GGUF model here with al.finetune.cpu_lora, or run this one on a GPU "
                              "node with launcher=al.launchers.slurm(...) / al.launchers.ray(...)")

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        if not trainset:
            raise ConfigError(f"finetune.{self.name} needs trainset(path) naming an instruction dataset file")
        self.refuse_here()
        steps = self.plan(base_model, target_path, trainset)
        log_path = Path(target_path) / "finetune.log"
        await anyio.Path(target_path).mkdir(parents=True, exist_ok=True)
        timeout: Any = self.kw.get("timeout")
        with self.display(base_model):
            for argv, cwd in steps:
                await run_worker(argv, log_path=log_path, on_event=self.report, cwd=cwd,
                                 timeout=float(timeout) if timeout else None, launcher=self.launcher,
                                 what=f"finetune.{self.name} {'merge' if _MERGE in argv else 'training'}")
        return self.result(target_path)
