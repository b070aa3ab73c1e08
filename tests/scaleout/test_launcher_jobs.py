"""Engines and fine-tune-style jobs through launchers (jobs.py): live JSON progress from a
batch job, failures with the job's log, an engine command built with the port placeholder.
Local always; Slurm and Ray when they are there."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from slurm_check import slurm_skip_reason

from asyncllm._exceptions import LifecycleError
from asyncllm.launchers import Launcher, local, ray, slurm
from asyncllm.launchers.base import PORT_PLACEHOLDER
from asyncllm.launchers.jobs import is_remote, launch_engine, run_job

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools"), pytest.mark.timeout(300)]

WORKER = """
import json, sys, time
for step in range(3):
    print(json.dumps({"step": step, "loss": 1.0 / (step + 1)}), flush=True)
    time.sleep(0.1)
print("not json", flush=True)
print(json.dumps({"done": int(sys.argv[1]) == 0, "error": "bad data" if sys.argv[1] != "0" else None}), flush=True)
sys.exit(int(sys.argv[1]))
"""

_slurm_skip = slurm_skip_reason()
slurm_only = [pytest.mark.slurm, pytest.mark.skipif(_slurm_skip is not None, reason=_slurm_skip or "")]
LAUNCHERS = [
    pytest.param("local", id="local"),
    pytest.param("slurm", id="slurm", marks=slurm_only),
    pytest.param("ray", id="ray", marks=[pytest.mark.ray, pytest.mark.filterwarnings("ignore::DeprecationWarning")]),
]


def _make(kind: str, request: pytest.FixtureRequest) -> Launcher:
    if kind == "ray":
        pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")
        request.getfixturevalue("ray_local")
        return ray(num_cpus=0.25)
    return slurm(time=120) if kind == "slurm" else local()


@pytest.mark.parametrize("kind", LAUNCHERS)
async def test_job_progress_and_failure(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    launcher = _make(kind, request)
    assert is_remote(launcher) is (kind != "local")
    events: list[dict[str, Any]] = []

    async def on_event(e: dict[str, Any]) -> None:
        events.append(e)

    last = await run_job(launcher, [sys.executable, "-c", WORKER, "0"], events_path=tmp_path / "ok.jsonl",
                         name="tune", on_event=on_event, timeout=120)
    assert last["done"] is True
    assert [e.get("step") for e in events] == [0, 1, 2, None]
    with pytest.raises(LifecycleError, match="bad data"):
        await run_job(launcher, [sys.executable, "-c", WORKER, "3"], events_path=tmp_path / "bad.jsonl",
                      name="tune", on_event=on_event, timeout=120)


@pytest.mark.parametrize("kind", [p for p in LAUNCHERS if p.id != "ray"])
async def test_engine_with_port_placeholder(kind: str, request: pytest.FixtureRequest) -> None:
    assert str(PORT_PLACEHOLDER) == f"{PORT_PLACEHOLDER}" == "{port}"
    argv = [sys.executable, "-m", "http.server", str(PORT_PLACEHOLDER), "--bind", "127.0.0.1"]
    url, proc = await launch_engine(_make(kind, request), argv, name="engine", health_path="/", timeout=60)
    try:
        assert proc.running and proc.returncode is None
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            assert (await client.get(url + "/")).status_code == 200
    finally:
        assert await proc.stop() == -15
    assert not proc.running
