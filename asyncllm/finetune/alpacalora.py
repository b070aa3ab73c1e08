"""``finetune.alpacalora``: LoRA with tloen/alpaca-lora's ``finetune.py`` (GPU), then merged.

alpaca-lora is a script repository, not a package: point ``ASYNCLLM_ALPACA_LORA_DIR`` at a
checkout (``git clone https://github.com/tloen/alpaca-lora``; ``pip install -r requirements.txt``
there). The command, run in that folder (its ``Prompter`` reads ``templates/<name>.json``
relative to the working directory)::

    python finetune.py --base_model=BASE --data_path=TRAINSET --output_dir=TARGET/lora [--key=value ...]

Every keyword is one of ``train()``'s parameters in alpaca-lora's ``finetune.py`` (exposed by
``fire.Fire(train)``, which reads ``--key=value``; lists as ``[q_proj,v_proj]``), e.g.
``num_epochs``, ``learning_rate``, ``lora_r``, ``lora_target_modules``, ``val_set_size`` (its
default, 2000, is more rows than a small dataset has: pass 0 or a smaller number). The adapter it
saves is merged into ``TARGET/merged`` (``merge=False`` keeps the adapter only).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, ClassVar

from ._script import ScriptFinetuner, Step, script_value

__all__ = ["AlpacaLora", "alpacalora"]

# train()'s parameters in tloen/alpaca-lora finetune.py (the "model/data params", "training
# hyperparams", "lora hyperparams", "llm hyperparams" and "wandb params" groups of its signature).
# base_model, data_path and output_dir are ours to set.
FLAGS = frozenset({
    "batch_size", "micro_batch_size", "num_epochs", "learning_rate", "cutoff_len", "val_set_size",
    "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules",
    "train_on_inputs", "add_eos_token", "group_by_length",
    "wandb_project", "wandb_run_name", "wandb_watch", "wandb_log_model",
    "resume_from_checkpoint", "prompt_template_name",
})


class AlpacaLora(ScriptFinetuner):
    name = "alpacalora"
    flags = FLAGS
    # finetune.py imports these (fire, torch, transformers, datasets, peft); its 8-bit load needs
    # bitsandbytes (load_in_8bit=True) — alpaca-lora's requirements.txt.
    packages = ("fire", "torch", "transformers", "datasets", "peft", "bitsandbytes")
    install: ClassVar[str] = ("clone https://github.com/tloen/alpaca-lora, run pip install -r requirements.txt "
                              "in it and set ASYNCLLM_ALPACA_LORA_DIR to that folder")
    gpu_reason = "alpaca-lora loads the model in 8 bits with bitsandbytes on CUDA"
    setting = "alpaca_lora_dir"
    script_in_folder = "finetune.py"

    def train_steps(self, base_model: str, trainset: str, lora_dir: Path, opts: dict[str, Any]) -> list[Step]:
        folder = self.configured() or Path("alpaca-lora")
        argv = [sys.executable, str(folder / self.script_in_folder), f"--base_model={base_model}",
                f"--data_path={Path(trainset).resolve()}", f"--output_dir={lora_dir}"]
        argv += [f"--{k}={script_value(v)}" for k, v in opts.items()]
        return [(argv, str(folder))]


alpacalora = AlpacaLora
