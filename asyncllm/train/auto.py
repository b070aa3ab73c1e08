"""``train.auto``: full-parameter training, on the trainer this machine has.

The seed names ``train.auto`` as the training method of ``train_method(...)`` with
``mode('train')``: every weight is trained, not a LoRA adapter. The one full trainer here is
LLaMA-Factory (``finetuning_type: full``; ``finetune.llamafactory`` builds its config), which
needs an NVIDIA GPU; anywhere else this refuses with a typed error naming what would work
(LoRA on the CPU with ``finetune.cpu_lora``, or a GPU node through ``launcher=``). The GPU answer
comes from ``deploy._hardware.gpu_available`` (``ASYNCLLM_GPU=0/1`` overrides it).
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError, MissingDependencyError
from ..deploy._hardware import gpu_available
from ..finetune.base import Finetuner
from ..finetune.llamafactory import LlamaFactory
from ..launchers.jobs import is_remote

__all__ = ["Auto", "auto", "pick_trainer"]


def pick_trainer(base_model: str, *, gpu: bool | None = None) -> type[Finetuner]:
    gpu = gpu_available() if gpu is None else gpu
    if not gpu:
        raise ConfigError(f"train.auto trains every weight of {base_model!r}, which needs an NVIDIA GPU, and this "
                          "machine has none: fine-tune a LoRA on the CPU with finetune_method(al.finetune.cpu_lora) "
                          "(GGUF models), or train on a GPU node with train_method(al.train.auto, "
                          "launcher=al.launchers.slurm(...))")
    if not LlamaFactory.available():
        raise MissingDependencyError("llamafactory", "", "train.auto (full-parameter training)",
                                     how="install LLaMA-Factory (pip install llamafactory) so that llamafactory-cli "
                                         "is on PATH")
    return LlamaFactory


class Auto(Finetuner):
    name = "auto"
    takes_trust_remote_code = True

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        # A remote launcher's node is the one with the GPU and the trainer: trust it.
        cls = LlamaFactory if is_remote(self.launcher) else pick_trainer(base_model)
        kw: dict[str, Any] = {"finetuning_type": "full", **self.kw}
        impl = cls(progress=self.progress, launcher=self.launcher, **kw)
        return str(await impl(base_model, target_path, trainset))


auto = Auto
