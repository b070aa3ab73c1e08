"""What this machine offers an engine: a GPU or not (checked without importing torch); and, for
the torch scripts we ship (the embedding engine, the CPU LoRA worker), their common options
(``--threads``, ``--batch-size``, ``--device``) and the one rule for ``--device``."""

from __future__ import annotations

import argparse
import os
import shutil

from .._config import config

__all__ = ["add_torch_arguments", "gpu_available", "pick_device"]


def gpu_available() -> bool:
    """True when an NVIDIA GPU is visible: ``nvidia-smi`` on PATH and a device node, unless
    ``CUDA_VISIBLE_DEVICES`` hides them all. ``ASYNCLLM_GPU=0/1`` overrides the guess."""
    forced = config.get("gpu", "")
    if forced != "":
        return str(forced).strip().lower() in ("1", "true", "yes", "on")
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None and visible.strip() in ("", "-1"):
        return False
    return shutil.which("nvidia-smi") is not None and os.path.exists("/dev/nvidiactl")


def add_torch_arguments(parser: argparse.ArgumentParser, *, batch_size: int) -> argparse.ArgumentParser:
    """A torch script's options: its CPU threads, the batch size, and the device (:func:`pick_device`)."""
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--batch-size", type=int, default=batch_size)
    parser.add_argument("--device", default="auto", help="auto (CUDA when there is a GPU, else CPU), cpu, cuda, cuda:N")
    return parser


def pick_device(wanted: str) -> str:
    """``auto``: CUDA when torch sees a GPU, else the CPU; ``cpu``/``cuda``/``cuda:N`` as asked
    (CUDA without a GPU is an error naming ``--device cpu``). Imports torch: call it in the script."""
    import torch

    if wanted == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if wanted.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {wanted}: torch sees no CUDA GPU here; use --device cpu (or auto)")
    return wanted
