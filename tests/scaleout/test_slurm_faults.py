"""al.launchers.slurm under faults, on the one-node loopback cluster: an outside scancel is
noticed on its own and named (a served call cut by it raises ServerLostError, an engine's
status turns FAILED), a start past its deadline says why the job still waits, a request no node
can hold is a ResourcesUnavailableError naming both sides, and a crashing trial job runs once
unless retries say otherwise. (Issue 17; items 2, 3, 4, 6 for Slurm.)"""

from __future__ import annotations

import subprocess
import sys

import anyio
import pytest
from fault_check import crashy_runs, engine_to_kill, noticed_end
from slurm_check import slurm_skip_reason

import asyncllm as al
from asyncllm import launchers
from asyncllm.launchers import CommandSpec, Status
from asyncllm.serving import ServerModule

_skip = slurm_skip_reason()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.timeout(240),
    pytest.mark.skipif(_skip is not None, reason=_skip or ""),
    pytest.mark.anyio,
    pytest.mark.usefixtures("pools"),
]


def _scancel(job_id: str) -> None:
    subprocess.run(["scancel", job_id], check=True, timeout=30)


async def test_outside_scancel_cuts_a_call_that_names_it() -> None:
    s = ServerModule("scaleout_targets:nap", launcher=launchers.slurm(partition="debug", time=300))
    async with s:
        handle = s.launcher.handle
        assert await s(1) == 1

        async def cancel_soon() -> None:
            await anyio.sleep(1.0)
            await anyio.to_thread.run_sync(_scancel, handle.job_id)

        async with anyio.create_task_group() as tg:
            tg.start_soon(cancel_soon)
            with anyio.fail_after(60), pytest.raises(al.ServerLostError) as info:
                await s(2, 30.0)  # runs for 30 s unless its job is cancelled
        assert "cancelled outside asyncllm" in info.value.cause and handle.job_id in info.value.cause
        assert handle.status is Status.CANCELLED and handle.cause == info.value.cause


async def test_engine_status_notices_an_outside_scancel() -> None:
    async with engine_to_kill(launchers.slurm(time=120)) as m:
        handle = m.engine.process.handle
        await anyio.to_thread.run_sync(_scancel, handle.job_id)
        await noticed_end(m)  # nobody polls
        assert handle.status is Status.CANCELLED and "cancelled outside asyncllm" in handle.cause


async def test_start_past_its_deadline_says_why_the_job_waits() -> None:
    spec = CommandSpec([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"], name="later",
                       health_path="/", start_timeout=4)
    launcher = launchers.slurm(time=120, extra_directives=("--begin=now+1hour",))
    late = r"still PENDING \(reason: BeginTime\) after 4s"
    with anyio.fail_after(30), pytest.raises(al.EngineStartError, match=late):
        await launcher.launch(spec)


async def test_request_no_node_can_hold_names_both_sides() -> None:
    spec = CommandSpec(["true"], name="huge", num_cpus=64)
    with anyio.fail_after(30), pytest.raises(al.ResourcesUnavailableError,
                                             match=r"asks for 64 CPUs.*partition debug: 1 node\(s\) of") as info:
        await launchers.slurm(partition="debug").launch(spec)
    assert info.value.requested["CPU"] == 64.0 and 0 < info.value.available["CPU"] < 64


@pytest.mark.parametrize("retries", [0, 1])
async def test_crashing_trial_job_runs_once_unless_retried(retries: int) -> None:
    result, runs = await crashy_runs(launchers.slurm(time=120), retries)
    assert runs == retries + 1
    assert "without an outcome" in str(result.error)
