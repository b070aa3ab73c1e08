"""Where servers, engines and trials run: ``al.launchers.local()`` (the default),
``al.launchers.ray(...)`` and ``al.launchers.slurm(...)``; see base.py for the protocol. The
seed's names ``al.launchers.empty(...)`` and ``al.launchers.remote(...)`` map onto them
(aliases.py).

Neither Ray nor Slurm's tools are needed until such a launcher is used.
"""

from __future__ import annotations

from typing import Any

from .aliases import EmptyLauncher, empty, remote
from .base import CommandSpec, Handle, Launcher, Status, TrialOutcome
from .local import LocalLauncher, local

# Imported eagerly, and after the submodules, so that ``launchers.ray`` / ``launchers.slurm``
# are the factory functions and not the modules of the same name. Neither imports Ray or runs
# a Slurm tool until used.
from .ray import RayLauncher, ray
from .slurm import SlurmLauncher, slurm

__all__ = ["CommandSpec", "EmptyLauncher", "Handle", "Launcher", "LocalLauncher", "RayLauncher", "SlurmLauncher",
           "Status", "TrialOutcome", "empty", "get", "local", "ray", "remote", "slurm"]


def get(launcher: Any) -> Launcher:
    """``None`` → :func:`local`; a launcher → itself; a name ``"local"``/``"ray"``/``"slurm"`` →
    that launcher with its defaults."""
    from .._exceptions import ConfigError

    if launcher is None:
        return local()
    if isinstance(launcher, str) and launcher in ("local", "ray", "slurm", "empty", "remote"):
        factory: Any = {"local": local, "ray": ray, "slurm": slurm, "empty": empty, "remote": remote}[launcher]
        return factory()  # type: ignore[no-any-return]
    if isinstance(launcher, Launcher):
        return launcher
    raise ConfigError(f"unknown launcher {launcher!r}; use al.launchers.local(), al.launchers.ray(...) "
                      "or al.launchers.slurm(...)")
