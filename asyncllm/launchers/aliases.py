"""The seed's launcher names, mapped onto ours: ``launchers.empty(...)`` and ``launchers.remote(...)``.

* ``empty(subprocess=False, ngpus=None, sync=True)`` — this machine, as LazyLLM's
  ``EmptyLauncher``: a served module runs in a child process (as LazyLLM's relay server does),
  a command as a process group. ``sync=True`` makes a batch command's ``launch`` return once it
  finished (a fine-tune), ``sync=False`` once it started; a server never blocks. ``ngpus``: a
  command without its own ``CUDA_VISIBLE_DEVICES`` gets the ``ngpus`` GPUs with the most free
  memory (read from ``nvidia-smi``; nothing changes on a machine without it). ``subprocess`` is
  accepted for the seed's signature: a served callable always runs in a child here.
* ``remote(ngpus=None, nnode=1, sync=False, **kw)`` — the launcher the ``launcher`` setting names
  (``ASYNCLLM_DEFAULT_LAUNCHER`` / ``LAZYLLM_DEFAULT_LAUNCHER``): ``empty`` (the default),
  ``slurm`` (``partition=``, ``time=``, ... as :func:`~asyncllm.launchers.slurm`) or ``ray``.
  The seed's ``sco`` and ``k8s`` launchers have no counterpart: a :class:`ConfigError` says so.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from typing import Any

import anyio.to_thread

from .._config import config
from .._exceptions import ConfigError
from .base import CommandSpec, Launcher
from .local import LocalLauncher

__all__ = ["EmptyLauncher", "empty", "remote"]

config.add("launcher", str, "empty", "DEFAULT_LAUNCHER")


class EmptyLauncher(LocalLauncher):
    """This machine, with the seed's ``sync`` and ``ngpus`` (see the module docstring)."""

    kind = "empty"

    def __init__(self, *, subprocess: bool = False, ngpus: int | None = None, sync: bool = True,
                 log_dir: str | None = None) -> None:
        super().__init__(subprocess=True, log_dir=log_dir)
        if ngpus is not None and (not isinstance(ngpus, int) or isinstance(ngpus, bool) or ngpus < 0):
            raise ConfigError(f"launchers.empty(ngpus={ngpus!r}): use a number of GPUs >= 0, or None")
        self.ngpus = ngpus
        self.sync = bool(sync)

    def __repr__(self) -> str:
        return f"<launchers.empty sync={self.sync} ngpus={self.ngpus}>"

    async def launch(self, spec: Any) -> Any:
        if isinstance(spec, CommandSpec):
            if self.ngpus and "CUDA_VISIBLE_DEVICES" not in spec.env:
                gpus = await anyio.to_thread.run_sync(_freest_gpus, self.ngpus)
                if gpus:
                    spec = replace(spec, env={**spec.env, "CUDA_VISIBLE_DEVICES": ",".join(gpus)})
            handle = await super().launch(spec)
            if self.sync and not spec.serves:
                await handle.wait()
            return handle
        return await super().launch(spec)


def _freest_gpus(n: int) -> list[str]:
    """The indexes of the ``n`` GPUs with the most free memory, or [] without ``nvidia-smi``."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index,memory.free", "--format=csv,noheader,nounits"],
                             capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    for line in out.splitlines():
        index, _, free = line.partition(",")
        if index.strip().isdigit() and free.strip().isdigit():
            rows.append((int(free), index.strip()))
    if len(rows) < n:
        raise ConfigError(f"launchers.empty(ngpus={n}): this machine has {len(rows)} GPU(s)")
    return [index for _, index in sorted(rows, reverse=True)[:n]]


def empty(subprocess: bool = False, ngpus: int | None = None, sync: bool = True) -> EmptyLauncher:
    """This machine, as the seed's ``launchers.empty`` (see the module docstring)."""
    return EmptyLauncher(subprocess=subprocess, ngpus=ngpus, sync=sync)


def remote(ngpus: int | None = None, nnode: int = 1, sync: bool = False, **kw: Any) -> Launcher:
    """The launcher named by the ``launcher`` setting, as the seed's ``launchers.remote``."""
    name = str(config["launcher"] or "empty").lower()
    if name in ("empty", "local"):
        return empty(ngpus=ngpus, sync=sync, subprocess=bool(kw.pop("subprocess", False)))
    if name == "slurm":
        from .slurm import slurm

        return slurm(kw.pop("partition", None), nodes=nnode, ngpus=ngpus, **kw)
    if name == "ray":
        from .ray import ray

        return ray(num_gpus=ngpus, **kw)
    raise ConfigError(f"the launcher setting is {name!r}; asyncllm has 'empty' (this machine), 'slurm' and 'ray' "
                      "(set ASYNCLLM_DEFAULT_LAUNCHER or LAZYLLM_DEFAULT_LAUNCHER)")
