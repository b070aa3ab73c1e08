"""The GPU suite: skipped, with the reason, on a machine without an NVIDIA GPU that torch sees."""

from __future__ import annotations

import subprocess
import sys

import pytest


def _cuda_reason() -> str | None:
    # Asked in a child process: this one never imports torch (nor initialises CUDA) itself.
    try:
        out = subprocess.run([sys.executable, "-c", "import torch; print(torch.cuda.device_count())"],
                             capture_output=True, text=True, timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"could not ask torch for a GPU ({exc})"
    if out.returncode != 0:
        return "torch is not installed (the GPU suite needs torch with CUDA)"
    if out.stdout.strip() in ("", "0"):
        return "no NVIDIA GPU visible to torch (torch.cuda.device_count() == 0): the GPU suite runs on GPU machines"
    return None


_REASON = _cuda_reason()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _REASON is None:
        return
    skip = pytest.mark.skip(reason=_REASON)
    for item in items:
        if "tests/gpu/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(skip)
