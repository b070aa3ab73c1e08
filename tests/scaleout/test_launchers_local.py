"""The launcher protocol on this machine: al.launchers.local() for servers (in-process and
subprocess), commands (served and batch) and trials; launcher selection and config errors.
Needs neither Ray nor Slurm."""

from __future__ import annotations

import sys

import httpx
import pytest

import asyncllm as al
from asyncllm import launchers
from asyncllm._exceptions import ConfigError, EngineStartError
from asyncllm.launchers import CommandSpec, Launcher, Status
from asyncllm.serving import ServerModule
from asyncllm.serving.launchers import InProcessLauncher, SubprocessLauncher

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


@pytest.mark.parametrize("sub", [False, True])
async def test_server_module_on_local_launcher(sub: bool) -> None:
    s = ServerModule("scaleout_targets:words_pipeline", launcher=launchers.local(subprocess=sub))
    assert isinstance(s.launcher, SubprocessLauncher if sub else InProcessLauncher)
    async with s:
        assert [str(c) async for c in s.stream("a b")] == ["a", " b"]
        assert await s("x y") == "X Y"


async def test_local_command_serves_then_stops() -> None:
    spec = CommandSpec([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"], name="web",
                       health_path="/")
    handle = await launchers.local().launch(spec)
    assert isinstance(handle.url, str)
    try:
        assert handle.status is Status.RUNNING
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            assert (await client.get(handle.url + "/")).status_code == 200
    finally:
        await handle.stop()
    assert handle.status is Status.CANCELLED
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(handle.url + "/")


async def test_local_batch_command_reports_failure() -> None:
    handle = await launchers.local().launch(CommandSpec([sys.executable, "-c", "raise SystemExit(3)"], name="job"))
    assert handle.url is None
    await handle.wait()
    assert await handle.poll() is Status.FAILED
    await handle.stop()


async def test_local_command_that_dies_gives_log_tail() -> None:
    spec = CommandSpec([sys.executable, "-c", "print('no port {port} for you'); raise SystemExit(2)"], name="dies")
    with pytest.raises(EngineStartError) as info:
        await launchers.local().launch(spec)
    assert "no port" in info.value.log_tail


async def test_trials_by_import_path_on_local_launcher() -> None:
    m = al.TrialModule("scaleout_targets:scored", launcher=launchers.local())
    results = await m.update()
    assert [r.values for r in results] == [[0.1, 1], [0.1, 2], [0.3, 1], [0.3, 2]]
    assert [r.ok for r in results] == [True, True, True, False]
    # local keeps the in-process semantics: eval results are the module's own objects
    assert results[0].eval_result[0][:3] == [0.1, 1, 5]
    assert "does not fit" in str(results[3].error)


async def test_local_run_trials_protocol_returns_plain_data() -> None:
    out = await launchers.local().run_trials("scaleout_targets:scored", [3, 0], concurrency=2)
    assert [o.index for o in out] == [3, 0]
    assert out[0].error is not None and "does not fit" in out[0].error
    assert out[1].error is None and out[1].eval_result[0][:3] == [0.1, 1, 5]


def test_launcher_selection_and_config_errors() -> None:
    assert isinstance(launchers.get(None), launchers.LocalLauncher)
    for launcher in (launchers.local(), launchers.ray(num_replicas=2), launchers.slurm(partition="p")):
        assert isinstance(launcher, Launcher)
        assert launchers.get(launcher) is launcher
    assert launchers.get("ray").kind == "ray"  # configuring starts nothing
    with pytest.raises(ConfigError, match="unknown launcher"):
        launchers.get("k8s")
    with pytest.raises(ConfigError, match="num_replicas"):
        launchers.ray(num_replicas=0)
    with pytest.raises(ConfigError, match="time"):
        launchers.slurm(time=-1)
    with pytest.raises(ConfigError, match="argv"):
        CommandSpec([])
    with pytest.raises(ConfigError, match="name"):
        CommandSpec(["x"], name="a b")
    assert CommandSpec(["srv", "--port={port}"]).serves and not CommandSpec(["train"]).serves


def test_trial_remote_launcher_needs_an_import_path() -> None:
    class Local(al.ModuleBase):
        async def forward(self, x: int) -> int:
            return x

    with pytest.raises(ConfigError, match="import path"):
        al.TrialModule("not_a_path", launcher=launchers.ray())
    assert Local  # defined inside a function: not importable, checked when update() runs
