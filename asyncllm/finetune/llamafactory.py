"""``finetune.llamafactory``: LoRA or full fine-tuning with LLaMA-Factory (GPU machines).

Writes a training config (JSON, which LLaMA-Factory's YAML loader reads) and a dataset
description under the target directory, runs ``llamafactory-cli train CONFIG``, then — for LoRA —
``llamafactory-cli export`` to merge the adapter into ``<target>/merged``, which is returned and
deployed (vLLM etc.). Any keyword becomes a config entry (``learning_rate``, ``num_train_epochs``,
``lora_rank``, ``per_device_train_batch_size``, ``template``...).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from .._exceptions import ConfigError, MissingDependencyError
from ._runner import run_worker
from .base import Finetuner

__all__ = ["LlamaFactory", "llamafactory"]

DEFAULTS: dict[str, Any] = {
    "stage": "sft", "do_train": True, "finetuning_type": "lora", "lora_target": "all", "lora_rank": 8,
    "template": "default", "cutoff_len": 1024, "per_device_train_batch_size": 1,
    "gradient_accumulation_steps": 8, "learning_rate": 1e-4, "num_train_epochs": 3.0,
    "lr_scheduler_type": "cosine", "logging_steps": 10, "save_steps": 500, "bf16": True, "overwrite_output_dir": True,
}


class LlamaFactory(Finetuner):
    name = "llamafactory"
    takes_trust_remote_code = True  # a key of LLaMA-Factory's model arguments

    @classmethod
    def available(cls) -> bool:
        return shutil.which("llamafactory-cli") is not None

    def plan(self, base_model: str, target_path: str, trainset: str) -> tuple[dict[str, Any], list[list[str]]]:
        """The training config and the commands to run (train, then merge for LoRA)."""
        target = Path(target_path)
        data = Path(trainset)
        opts = {k: v for k, v in self.kw.items() if k != "timeout"}
        cfg: dict[str, Any] = {**DEFAULTS, **opts, "model_name_or_path": base_model,
                               "dataset": "asyncllm_train", "dataset_dir": str(target / "data"),
                               "output_dir": str(target / "lora")}
        cmds = [["llamafactory-cli", "train", str(target / "train.json")]]
        if cfg["finetuning_type"] == "lora":
            cmds.append(["llamafactory-cli", "export", str(target / "export.json")])
        cfg["_dataset_info"] = {"asyncllm_train": {"file_name": str(data.resolve())}}
        return cfg, cmds

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        if not self.available():
            raise MissingDependencyError("llamafactory", "finetune", "finetune.llamafactory (GPU fine-tuning)")
        if not trainset:
            raise ConfigError("finetune.llamafactory needs trainset(path) naming a dataset file")
        cfg, cmds = self.plan(base_model, target_path, trainset)
        target = Path(target_path)
        (target / "data").mkdir(parents=True, exist_ok=True)
        (target / "data" / "dataset_info.json").write_text(json.dumps(cfg.pop("_dataset_info")))
        (target / "train.json").write_text(json.dumps(cfg, indent=1))
        merged = target / "merged"
        (target / "export.json").write_text(json.dumps({
            "model_name_or_path": base_model, "adapter_name_or_path": cfg["output_dir"],
            "template": cfg["template"], "finetuning_type": "lora", "export_dir": str(merged)}, indent=1))
        with self.display(base_model):
            for argv in cmds:
                await run_worker(argv, log_path=target / "finetune.log", on_event=self.report,
                                 timeout=self.kw.get("timeout"), launcher=self.launcher)
        return str(merged if len(cmds) > 1 else cfg["output_dir"])


llamafactory = LlamaFactory
