"""Serving as the seed writes it: ``ServerModule(demo, launcher=launchers.empty(sync=False))``
for a function defined right there, ``launchers.remote()``, ``pythonpath=``, ``status``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

import asyncllm as al
from asyncllm.launchers import EmptyLauncher, SlurmLauncher, Status
from asyncllm.serving import ServerModule, SubprocessLauncher
from asyncllm.serving.launchers import ServerSpec

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_the_seeds_serving_example() -> None:
    def demo(input: Any) -> Any:  # defined here: no import path reaches it
        return input * 2

    s = al.ServerModule(demo, launcher=al.launchers.empty(sync=False))
    await s.start()
    try:
        assert isinstance(s.launcher, SubprocessLauncher) and s.launcher.pid != os.getpid()
        u = al.UrlModule(url=s._url)
        assert await u(1) == 2
        assert [p for p in os.listdir(s.launcher._dir or "") if p.endswith(".pkl")] == []  # read and deleted
    finally:
        await s.stop()


async def test_lambdas_and_closures_run_in_a_child_process() -> None:
    factor = 10
    s = ServerModule(lambda x: (x * factor, os.getpid()), pre=lambda x: x + 1, post=lambda out: out[0],
                     launcher="subprocess")
    async with s:
        assert await s(1) == 20


def test_out_of_machine_launchers_need_an_import_path() -> None:
    spec = ServerSpec(target=lambda x: x)
    with pytest.raises(al.ConfigError, match=r"has no import path.*Ray, Slurm"):
        spec.child_data()  # what Ray and Slurm use: no pickle leaves this machine


async def test_pythonpath_reaches_the_child(tmp_path: Path) -> None:
    (tmp_path / "seed_extra_mod.py").write_text("def triple(x):\n    return x * 3\n")
    assert str(tmp_path) not in sys.path
    s = ServerModule("seed_extra_mod:triple", None, None, False, False, None, str(tmp_path), "subprocess")
    async with s:  # the seed's positional order: m, pre, post, stream, return_trace, port, pythonpath, launcher
        assert await s(2) == 6


async def test_status_follows_the_server() -> None:
    s = ServerModule(abs, launcher="subprocess")
    assert s.status is Status.PENDING
    await s.start()
    assert s.status is Status.RUNNING
    os.kill(s.launcher.pid, 9)  # the server dies on its own
    with anyio.fail_after(10):
        while s.status is Status.RUNNING:
            await anyio.sleep(0.05)
    assert s.status is Status.FAILED
    await s.stop()
    assert s.status is Status.CANCELLED


async def test_empty_waits_for_a_command_when_sync_and_picks_free_gpus(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    smi = bin_dir / "nvidia-smi"  # this machine's GPUs, as nvidia-smi reports them: index, free MiB
    smi.write_text("#!/bin/sh\nprintf '0, 100\\n1, 9000\\n2, 4000\\n'\n")
    smi.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    out = tmp_path / "out"
    command = al.launchers.CommandSpec([sys.executable, "-c", "import os, sys, time; time.sleep(0.3); "
                                        "open(sys.argv[1], 'w').write(os.environ['CUDA_VISIBLE_DEVICES'])",
                                        str(out)], name="seed-job")
    handle = await al.launchers.empty(sync=True, ngpus=2).launch(command)
    assert handle.status is Status.DONE  # sync: launch returned once it finished
    assert out.read_text() == "1,2"  # the two with the most free memory
    await handle.stop()


def test_remote_follows_the_launcher_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(al.launchers.remote(), EmptyLauncher)
    assert al.launchers.remote().sync is False  # the seed's default for remote()
    monkeypatch.setenv("LAZYLLM_DEFAULT_LAUNCHER", "slurm")
    launcher = al.launchers.remote(ngpus=1, partition="debug")
    assert isinstance(launcher, SlurmLauncher) and launcher.partition == "debug"
    monkeypatch.setenv("LAZYLLM_DEFAULT_LAUNCHER", "sco")
    with pytest.raises(al.ConfigError, match=r"'sco'.*'empty'"):
        al.launchers.remote()
