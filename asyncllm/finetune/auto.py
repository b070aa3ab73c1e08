"""``finetune.auto``: LLaMA-Factory on a GPU machine that has it, else LoRA on the CPU for GGUF models."""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError
from ..deploy._hardware import gpu_available
from .base import Finetuner
from .cpu_lora import CpuLora
from .llamafactory import LlamaFactory

__all__ = ["Auto", "auto", "pick_finetuner"]


def pick_finetuner(base_model: str, *, gpu: bool | None = None) -> type[Finetuner]:
    gpu = gpu_available() if gpu is None else gpu
    if base_model.endswith(".gguf"):
        CpuLora.check_available()
        return CpuLora
    if gpu and LlamaFactory.available():
        return LlamaFactory
    raise ConfigError(
        f"no fine-tune method fits {base_model!r} (GPU: {'yes' if gpu else 'no'}; llamafactory-cli: "
        f"{'yes' if LlamaFactory.available() else 'no'}). Fine-tune a GGUF model on the CPU "
        "(pip install 'asyncllm[finetune]') or install LLaMA-Factory on a GPU machine."
    )


class Auto(Finetuner):
    name = "auto"

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        impl: Any = pick_finetuner(base_model)(progress=self.progress, **self.kw)
        return str(await impl(base_model, target_path, trainset))


auto = Auto
