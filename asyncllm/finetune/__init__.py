"""Fine-tune methods for ``TrainableModule.finetune_method(al.finetune.X, **kw)``, one file each.

``dummy`` (logs its arguments, returns the target path), ``cpu_lora`` (LoRA on the CPU for GGUF
models, via a worker subprocess), ``llamafactory`` (GPU, LLaMA-Factory's CLI) and ``auto``.
"""

from __future__ import annotations

from .auto import Auto, auto, pick_finetuner
from .base import Finetuner, ProgressCallback
from .cpu_lora import CpuLora, cpu_lora
from .dummy import Dummy, dummy
from .llamafactory import LlamaFactory, llamafactory

__all__ = ["Auto", "CpuLora", "Dummy", "Finetuner", "LlamaFactory", "ProgressCallback", "auto", "cpu_lora",
           "dummy", "llamafactory", "pick_finetuner"]
