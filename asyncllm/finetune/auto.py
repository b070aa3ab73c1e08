"""``finetune.auto``: the fine-tune this machine can run, chosen by its hardware.

A GGUF model: ``cpu_lora`` (the one GGUF trainer; on CUDA when there is a GPU). Any other model on
a machine with an NVIDIA GPU: the first GPU trainer installed, in the seed's order
(``llamafactory``, then ``alpacalora``, then ``collie``). Without a GPU: refused, naming what
would work. The GPU answer comes from ``deploy._hardware.gpu_available``, whose documented
override ``ASYNCLLM_GPU=0/1`` is also how tests give it an answer.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError
from ..deploy._hardware import gpu_available
from .alpacalora import AlpacaLora
from .base import Finetuner
from .collie import Collie
from .cpu_lora import CpuLora
from .llamafactory import LlamaFactory

__all__ = ["GPU_TRAINERS", "Auto", "auto", "pick_finetuner"]


#: the GPU trainers, in the order the seed's AutoFinetune tries them
GPU_TRAINERS: tuple[type[Finetuner], ...] = (LlamaFactory, AlpacaLora, Collie)


def pick_finetuner(base_model: str, *, gpu: bool | None = None) -> type[Finetuner]:
    gpu = gpu_available() if gpu is None else gpu
    if base_model.endswith(".gguf"):
        CpuLora.check_available()
        return CpuLora
    if gpu:
        for cls in GPU_TRAINERS:
            if cls.available():
                return cls
    have = ", ".join(f"{c.name}: {'yes' if c.available() else 'no'}" for c in GPU_TRAINERS)
    raise ConfigError(
        f"no fine-tune method fits {base_model!r} (GPU: {'yes' if gpu else 'no'}; {have}). Fine-tune a GGUF "
        "model on the CPU (pip install 'asyncllm[finetune]') or install LLaMA-Factory on a GPU machine."
    )


class Auto(Finetuner):
    name = "auto"

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        impl: Any = pick_finetuner(base_model)(progress=self.progress, launcher=self.launcher, **self.kw)
        return str(await impl(base_model, target_path, trainset))


auto = Auto
