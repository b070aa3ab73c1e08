"""TrainableModule's engine on Ray and Slurm: ``deploy_method(deploy.dummy, launcher=...)``
runs the (real, model-free) dummy engine in a Ray actor / a Slurm job; calls and streams go to
it; stop() ends it. (The fine-tune path through launchers is covered by test_launcher_jobs.py:
run_worker hands remote jobs to launchers.jobs.run_job.)"""

from __future__ import annotations

import anyio
import pytest
from slurm_check import slurm_skip_reason

import asyncllm as al
from asyncllm import deploy
from asyncllm.deploy.base import EngineStatus
from asyncllm.launchers import Launcher, ray, slurm
from asyncllm.launchers.jobs import LaunchedProcess
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools"), pytest.mark.timeout(300)]

_slurm_skip = slurm_skip_reason()


def _make(kind: str, request: pytest.FixtureRequest) -> Launcher:
    if kind == "ray":
        pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")
        request.getfixturevalue("ray_local")
        return ray(num_cpus=0.25)
    return slurm(time=120)


@pytest.mark.parametrize("kind", [
    pytest.param("slurm", marks=[pytest.mark.slurm, pytest.mark.skipif(_slurm_skip is not None,
                                                                       reason=_slurm_skip or "")]),
    pytest.param("ray", marks=[pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]),
])
async def test_dummy_engine_on_launcher(kind: str, request: pytest.FixtureRequest) -> None:
    m = TrainableModule().deploy_method(deploy.dummy, launcher=_make(kind, request)).prompt(None)
    await m.start()
    try:
        assert m.status() is EngineStatus.RUNNING
        engine = m.engine
        assert engine is not None and isinstance(engine.process, LaunchedProcess)
        assert m.url is not None and m.url.startswith("http://127.0.0.1:") and m.url.endswith("/v1/")
        assert "{port}" not in m.url
        out = await m("hi")
        assert out.startswith("reply for hi")
        assert "".join([str(c) async for c in m.stream("yo")]) == (await m("yo"))
        job_id = getattr(engine.process.handle, "job_id", None)
    finally:
        await m.stop()
    assert m.status() is EngineStatus.STOPPED
    if job_id is not None:
        with anyio.fail_after(30):
            queued = await anyio.run_process(["squeue", "-h", "-j", job_id, "-o", "%T"])
        assert queued.stdout.strip() == b""
    with pytest.raises(al.LifecycleError):
        await m("again")
