"""What this machine offers an engine: a GPU or not (checked without importing torch)."""

from __future__ import annotations

import os
import shutil

from .._config import config

__all__ = ["gpu_available"]


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
