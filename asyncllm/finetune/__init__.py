"""Fine-tune methods for ``TrainableModule.finetune_method(al.finetune.X, **kw)``, one file each.

``dummy`` (logs its arguments, returns the target path), ``cpu_lora`` (LoRA for GGUF models, via a
worker subprocess; CUDA when there is a GPU), the GPU trainers run through their projects' own
command lines — ``llamafactory`` (LLaMA-Factory's CLI), ``alpacalora`` (tloen/alpaca-lora's
``finetune.py``), ``collie`` (a CoLLiE SFT script) — and ``auto`` (chosen by hardware).
"""

from __future__ import annotations

from .alpacalora import AlpacaLora, alpacalora
from .auto import Auto, auto, pick_finetuner
from .base import Finetuner, ProgressCallback
from .collie import Collie, collie
from .cpu_lora import CpuLora, cpu_lora
from .dummy import Dummy, dummy
from .llamafactory import LlamaFactory, llamafactory

__all__ = ["AlpacaLora", "Auto", "Collie", "CpuLora", "Dummy", "Finetuner", "LlamaFactory", "ProgressCallback",
           "alpacalora", "auto", "collie", "cpu_lora", "dummy", "llamafactory", "pick_finetuner"]
