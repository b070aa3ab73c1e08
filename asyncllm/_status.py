"""``Status``: where a launched thing is — a served module, an engine job, a trial.

It sits at the bottom of the package because both sides report it: the launchers (local, Ray,
Slurm) and ``ServerModule.status``, which sits below them.
"""

from __future__ import annotations

import enum

__all__ = ["Status"]


class Status(enum.Enum):
    """Where a launched thing is (LazyLLM's ``Status`` without its TBSubmitted/InQueue split)."""

    PENDING = "pending"  # submitted, waiting for resources (a queued Slurm job, a Ray actor)
    RUNNING = "running"
    DONE = "done"  # ended on its own with success
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped by us (or by the cluster's operator)

    @property
    def finished(self) -> bool:
        return self in (Status.DONE, Status.FAILED, Status.CANCELLED)
