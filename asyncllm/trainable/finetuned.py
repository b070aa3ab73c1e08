"""The fine-tuned models a ``TrainableModule`` has on disk: what ``get_all_models()`` lists.

Every fine-tune run writes into its own folder under the module's target root
(``<train_target_root>/<target_path>/<trainset>-<time>-<id>``, see ``TrainableImpl.target_dir``).
A run folder holds a deployable model when it has ``model.gguf`` (``finetune.cpu_lora``) or a
merged model folder with weights (``merged/`` from llamafactory / alpacalora / collie, or the
seed's ``lazyllm_merge/``), or a whole model (``config.json`` and weights) in ``lora/`` from
full-parameter training. A run folder without one (a failed or cancelled run, or one still
going) is listed apart, so ``set_specific_finetuned_model`` can refuse it with the reason.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["MERGED_DIRS", "finetuned_models", "model_in"]

#: where a GPU fine-tune leaves its merged model (ours, then the seed's layout)
MERGED_DIRS = ("merged", "lazyllm_merge")
_WEIGHTS = (".bin", ".safetensors")


def model_in(run: Path) -> Path | None:
    """The deployable model a fine-tune run left in ``run``, or None."""
    gguf = run / "model.gguf"
    if gguf.is_file():
        return gguf
    for name in MERGED_DIRS:
        folder = run / name
        if folder.is_dir() and any(p.suffix in _WEIGHTS for p in folder.iterdir()):
            return folder
    # Full-parameter training (train.auto) writes a whole model, with its config, to its output folder.
    full = run / "lora"
    if (full / "config.json").is_file() and any(p.suffix in _WEIGHTS for p in full.iterdir()):
        return full
    return None


def _is_run(folder: Path) -> bool:
    # What every fine-tune method leaves first: its log, or the folders it writes into.
    return any((folder / n).exists() for n in ("finetune.log", "lora", "lazyllm_lora", *MERGED_DIRS))


def finetuned_models(root: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(valid, invalid)`` runs under ``root``, each ``(run id, path)``, oldest first: a valid
    run's path is its model (a GGUF file or a merged folder); an invalid one's is its folder."""
    valid: list[tuple[str, str]] = []
    invalid: list[tuple[str, str]] = []
    if not root.is_dir():
        return valid, invalid
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: (p.stat().st_mtime, p.name))
    for run in runs:
        model = model_in(run)
        if model is not None:
            valid.append((run.name, str(model.resolve())))
        elif _is_run(run):
            invalid.append((run.name, str(run.resolve())))
    return valid, invalid
