"""``finetune.cpu_lora``: LoRA for a GGUF chat model (CPU, or CUDA when there is a GPU), giving a GGUF.

Drives ``asyncllm/finetune/_lora_cpu_worker.py`` in a subprocess (transformers loads the GGUF,
peft trains the LoRA, the adapter is merged and written back as ``<target>/model.gguf``),
reading its JSON progress lines: every step's loss is logged and passed to ``progress=``.
Keywords: ``steps`` (14), ``lr`` (1e-3), ``lora_r`` (8), ``batch_size`` (4), ``max_len`` (256),
``threads`` (all cores), ``seed``, ``device`` (``auto``: CUDA when a GPU is visible, else the CPU;
``cpu``, ``cuda``), ``timeout`` (seconds, default none), ``keep_hf`` (keep the
merged Hugging Face model, an intermediate about twice the GGUF's size, in ``<target>/hf``). The
trainset is a JSON or JSON-lines file of ``{"instruction", "input"?, "output"}`` or
``{"messages": [...]}`` records.

What a run leaves in its target directory: ``model.gguf`` (the tuned model, also
``TrainableModule.finetuned_model_path``) and ``finetune.log`` (the worker's log).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio

from .._exceptions import ConfigError
from ..launchers.jobs import is_remote
from ._runner import run_worker
from .base import Finetuner

__all__ = ["CpuLora", "cpu_lora"]

_FLAGS = ("steps", "lr", "lora_r", "lora_alpha", "batch_size", "max_len", "threads", "seed", "target_modules",
          "converter", "outtype", "device")


class CpuLora(Finetuner):
    name = "cpu_lora"
    requires = (("torch", "transformers", "peft", "gguf"), "torch, transformers, peft and gguf", "finetune")

    def command(self, base_gguf: str, trainset: str, out_dir: str) -> list[str]:
        unknown = set(self.kw) - set(_FLAGS) - {"timeout", "keep_hf"}
        if unknown:
            raise ConfigError(f"finetune.cpu_lora does not take {sorted(unknown)}; it takes {', '.join(_FLAGS)}, "
                              "keep_hf and timeout")
        argv = [sys.executable, "-m", "asyncllm.finetune._lora_cpu_worker", "--base-gguf", base_gguf,
                "--data", trainset, "--out", out_dir]
        for key in _FLAGS:
            if self.kw.get(key) is not None:
                argv += ["--" + key.replace("_", "-"), str(self.kw[key])]
        if self.kw.get("keep_hf"):
            argv.append("--keep-hf")
        return argv

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        self.check_available()
        if not base_model.endswith(".gguf"):
            raise ConfigError(f"finetune.cpu_lora tunes GGUF chat models; {base_model!r} is not a .gguf file")
        if not is_remote(self.launcher) and not await anyio.Path(base_model).is_file():
            raise ConfigError(f"finetune.cpu_lora: the base model {base_model!r} does not exist")
        if not trainset or not await anyio.Path(trainset).is_file():
            raise ConfigError(f"finetune.cpu_lora needs trainset('data.jsonl') naming an existing file, "
                              f"got {trainset!r}")
        argv = self.command(base_model, trainset, target_path)
        timeout: Any = self.kw.get("timeout")
        with self.display(base_model):
            done = await run_worker(argv, log_path=Path(target_path) / "finetune.log", on_event=self.report,
                                    timeout=float(timeout) if timeout else None, launcher=self.launcher)
        gguf = done.get("gguf")
        if not isinstance(gguf, str) or not await anyio.Path(gguf).is_file():
            raise ConfigError(f"the fine-tune worker finished without a GGUF file (last event: {done})")
        return gguf


cpu_lora = CpuLora
