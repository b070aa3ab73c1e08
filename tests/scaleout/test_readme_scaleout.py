"""The README's scale-out block, run as written (tests/readme_blocks.py): a module served as a Ray
Serve application of two replicas, a grid of trials as Ray tasks, and a Slurm launcher configured
with Slurm's own time format. The block starts (and stops) its own loopback Ray instance."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import pytest
from readme_blocks import python_scripts, run_block

pytestmark = [pytest.mark.ray, pytest.mark.timeout(600), pytest.mark.filterwarnings("ignore::DeprecationWarning")]

BLOCKS = [b for b in python_scripts() if "launchers.ray(" in b.code]


def _marked(marker: str) -> set[int]:
    """Processes whose environment carries ``marker`` (what the block and its Ray started)."""
    found = set()
    needle = f"ASYNCLLM_README_RUN={marker}".encode()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as f:
                    if needle in f.read().split(b"\0"):
                        found.add(int(entry))
            except OSError:
                pass
    return found


@pytest.mark.parametrize("block", BLOCKS, ids=lambda b: b.name)
def test_scaleout_block_runs_as_written(block: object, tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")
    marker = uuid.uuid4().hex
    proc = run_block(block, tmp_path, {"RAY_USAGE_STATS_ENABLED": "0", "ASYNCLLM_README_RUN": marker},  # type: ignore[arg-type]
                     timeout=540)
    # Quiet by default: Ray's start-up and shut-down chatter went to the launcher's log.
    for noise in ("SIGTERM handler is not set", "Token authentication is enabled", "Nothing to shut down",
                  "graceful_shutdown"):
        assert noise not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    deadline = time.monotonic() + 30  # Ray's daemons take a moment to exit after the driver
    while _marked(marker) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not _marked(marker), "the block left Ray processes behind"
