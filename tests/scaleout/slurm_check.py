"""Why the Slurm tests cannot run here (None: a cluster answers)."""

from __future__ import annotations

import shutil
import subprocess

__all__ = ["slurm_skip_reason"]


def slurm_skip_reason() -> str | None:
    if shutil.which("sinfo") is None or shutil.which("sbatch") is None:
        return "Slurm client tools not installed (apt-get install slurm-wlm munge)"
    try:
        out = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"scontrol ping failed: {e}"
    if "is UP" not in out:
        return "no slurmctld answering (run scripts/slurm_setup.sh as root)"
    return None
