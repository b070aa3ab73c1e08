"""``finetune.collie``: LoRA with CoLLiE (OpenLMLab's 3D-parallel trainer, GPU), then merged.

CoLLiE is a library (``pip install collie-lm``, imported as ``collie``) without a command line of
its own; the seed runs its own SFT script on it. Point ``ASYNCLLM_COLLIE_SCRIPT`` at such a
script — LazyLLM's ``lazyllm/components/finetune/collie/finetune.py`` (with the ``prompter.py``
next to it) is the reference — and the command is::

    python SCRIPT --base_model=BASE --output_dir=TARGET/lora --data_path=DATA.json [--key=value ...]

or ``python -m torch.distributed.run --nproc_per_node=N SCRIPT ...`` when ``dp_size * pp_size *
tp_size`` is more than one (the script takes its world size from torchrun's ``WORLD_SIZE``).
Keywords are that script's argparse options (``num_epochs``, ``learning_rate``, ``lora_r``,
``lora_target_modules``, ``dp_size``...; the seed's ``ddp``/``tp`` are mapped to ``dp_size``/
``tp_size``). The script reads a JSON list of records: a JSON-lines trainset is written out as
one next to the run. The adapter is merged into ``TARGET/merged`` (``merge=False`` keeps it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, ClassVar

import anyio
import anyio.to_thread

from ._script import ScriptFinetuner, Step, script_value

__all__ = ["Collie", "collie"]

# The argparse options of LazyLLM's collie/finetune.py (its ``__main__`` block); base_model,
# output_dir and data_path are ours to set.
FLAGS = frozenset({
    "dp_size", "pp_size", "tp_size", "num_epochs", "micro_batch_size", "eval_batch_size", "batch_size",
    "eval_per_n_steps", "log_tag", "zero_stage", "ds_fp16", "learning_rate", "prompt_template_name",
    "show_prompt", "lora_target_modules", "modules_to_save", "lora_dropout", "lora_alpha", "lora_r", "model_type",
})
# ds_fp16 and show_prompt are argparse ``type=bool``: any non-empty text is True, so False is
# passed as an empty value (bool('') is False).
_BOOL_FLAGS = frozenset({"ds_fp16", "show_prompt"})


def _to_json_list(src: Path, out: Path) -> None:
    rows = [json.loads(line) for line in src.read_text(encoding="utf-8").splitlines() if line.strip()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")


class Collie(ScriptFinetuner):
    name = "collie"
    flags = FLAGS
    # The seed's CollieFinetune.auto_map (ddp → dp_size, tp → tp_size).
    auto_map: ClassVar[dict[str, str]] = {"ddp": "dp_size", "tp": "tp_size"}
    # What the script imports besides CoLLiE itself (LazyLLM checks numpy, peft, torch, transformers).
    packages = ("collie", "numpy", "peft", "torch", "transformers")
    install: ClassVar[str] = ("pip install collie-lm, and set ASYNCLLM_COLLIE_SCRIPT to a CoLLiE SFT script such "
                              "as LazyLLM's lazyllm/components/finetune/collie/finetune.py")
    gpu_reason = "CoLLiE trains with DeepSpeed on CUDA"
    setting = "collie_script"

    @staticmethod
    def data_file(trainset: str, lora_dir: Path) -> Path:
        """The trainset as the script reads it (``json.load`` of a list)."""
        path = Path(trainset).resolve()
        return lora_dir.parent / "data.json" if path.suffix == ".jsonl" else path

    def train_steps(self, base_model: str, trainset: str, lora_dir: Path, opts: dict[str, Any]) -> list[Step]:
        script = self.configured() or Path("collie_finetune.py")  # (script() is configured() when it exists)
        world = 1
        for key in ("dp_size", "pp_size", "tp_size"):
            world *= int(opts.get(key, 1))
        launch = [sys.executable] if world == 1 else [
            sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={world}"]
        argv = [*launch, str(script), f"--base_model={base_model}", f"--output_dir={lora_dir}",
                f"--data_path={self.data_file(trainset, lora_dir)}"]
        for key, value in opts.items():
            if key in _BOOL_FLAGS:
                value = "True" if value else ""
            argv.append(f"--{key}={script_value(value)}")
        return [(argv, None)]

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        if trainset and Path(trainset).suffix == ".jsonl":
            self.refuse_here()  # before writing anything
            await anyio.to_thread.run_sync(_to_json_list, Path(trainset),
                                           self.data_file(trainset, Path(target_path) / "lora"))
        return await super().__call__(base_model, target_path, trainset)


collie = Collie
