"""al.launchers.slurm on the one-node loopback cluster of scripts/slurm_setup.sh: a served
module as a batch job (called, streamed, cancelled: the job is gone), an engine-like command
whose secret travels only in a 0600 env file, a trial grid as jobs, and typed errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from slurm_check import slurm_skip_reason

import asyncllm as al
from asyncllm import launchers
from asyncllm._exceptions import ConfigError, ModuleExecutionError
from asyncllm.launchers import CommandSpec, Status
from asyncllm.launchers._slurm_cmd import JobState
from asyncllm.launchers.slurm import SlurmJobHandle
from asyncllm.serving import ServerModule

_skip = slurm_skip_reason()
pytestmark = [
    pytest.mark.slurm,
    pytest.mark.timeout(180),
    pytest.mark.skipif(_skip is not None, reason=_skip or ""),
    pytest.mark.anyio,
    pytest.mark.usefixtures("pools"),
]


def _squeue(job_id: str) -> str:
    return subprocess.run(["squeue", "-h", "-j", job_id, "-o", "%T"], capture_output=True, text=True,
                          timeout=30).stdout.strip()


def _cmdlines_with(needle: bytes) -> list[str]:
    hits = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if needle in f.read():
                        hits.append(pid)
            except OSError:
                pass
    return hits


async def test_served_module_as_batch_job_calls_streams_and_cancels(tmp_path: Path) -> None:
    s = ServerModule("scaleout_targets:gated_pipeline", launcher=launchers.slurm(partition="debug", time=300),
                     security_key=True)
    async with s:
        handle = s.launcher.handle
        assert isinstance(handle, SlurmJobHandle)
        assert s.url.startswith("http://127.0.0.1:")  # NodeAddr of the node the job runs on
        assert _squeue(handle.job_id) == "RUNNING"
        assert await handle.poll() is Status.RUNNING
        assert s.security_key and _cmdlines_with(s.security_key.encode()) == []
        assert not await anyio_path_exists(os.path.join(handle.directory, "spec.json"))  # the child deleted it

        gate = tmp_path / "gate"
        chunks = []
        async with s.stream(str(gate)) as st:
            async for c in st:
                chunks.append(c)
                if c == "first":
                    gate.touch()
        assert chunks == ["first", " second"] and st.result == "FIRST SECOND"
        gate2 = tmp_path / "gate2"
        gate2.touch()
        assert await s(str(gate2)) == "FIRST SECOND"
        url, job_id, directory = s.url, handle.job_id, handle.directory
    assert handle.state is JobState.CANCELLED and handle.status is Status.CANCELLED
    assert _squeue(job_id) == ""  # gone from the queue
    assert not await anyio_path_exists(directory)
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url + "/health")


async def anyio_path_exists(path: str) -> bool:
    import anyio

    return await anyio.Path(path).exists()


async def test_engine_command_secret_only_in_env_file() -> None:
    secret = f"tok-{os.urandom(8).hex()}"
    code = ("import http.server, os, sys\n"
            "s = os.environ['ASYNCLLM_TEST_SECRET'].encode()\n"
            "class H(http.server.BaseHTTPRequestHandler):\n"
            "    def do_GET(self):\n"
            "        self.send_response(200); self.send_header('Content-Length', str(len(s))); self.end_headers()\n"
            "        self.wfile.write(s)\n"
            "    def log_message(self, *a): pass\n"
            "http.server.HTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()\n")
    spec = CommandSpec([sys.executable, "-c", code, "{port}"], name="engine", env={"ASYNCLLM_TEST_SECRET": secret},
                       health_path="/", num_cpus=1)
    handle = await launchers.slurm(time=120).launch(spec)
    try:
        assert handle.url is not None
        env_file = Path(handle.directory) / "job.env"
        assert env_file.stat().st_mode & 0o777 == 0o600
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            assert (await client.get(handle.url + "/")).text == secret
        assert _cmdlines_with(secret.encode()) == []
    finally:
        await handle.stop()
    assert handle.status is Status.CANCELLED


async def test_trial_grid_runs_as_jobs() -> None:
    results = await al.TrialModule("scaleout_targets:scored", launcher=launchers.slurm(time=120),
                                   concurrency=2).update()
    assert [r.values for r in results] == [[0.1, 1], [0.1, 2], [0.3, 1], [0.3, 2]]
    assert all(r.ok for r in results[:3]), [r.error for r in results]
    assert [r.eval_result[0][:3] for r in results[:3]] == [[0.1, 1, 5], [0.1, 2, 5], [0.3, 1, 5]]
    assert isinstance(results[3].error, ModuleExecutionError) and "does not fit" in str(results[3].error)


async def test_bad_partition_is_a_config_error() -> None:
    spec = CommandSpec(["true"], name="nothing")
    with pytest.raises(ConfigError, match=r"invalid partition.*check partition="):
        await launchers.slurm(partition="nosuch").launch(spec)
