"""al.launchers.ray on a real local Ray instance (one per session, on loopback): a served
pipeline with 2 replicas behind Ray Serve's proxy (concurrent calls, streaming, the OpenAI
face, no socket off loopback, the app gone after stop), an engine-like command in an actor,
and a trial grid as Ray tasks."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from net_check import foreign_sockets, process_tree, ray_pids

pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")

import asyncllm as al
from asyncllm import launchers
from asyncllm._exceptions import ModuleExecutionError
from asyncllm.launchers import CommandSpec, Status
from asyncllm.serving import ServerModule

pytestmark = [
    pytest.mark.ray,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # ray.serve's pydantic imports
    pytest.mark.usefixtures("ray_local", "pools"),
]


def _app_names() -> set[str]:
    from ray import serve

    return set(serve.status().applications)


@pytest.mark.anyio
async def test_served_pipeline_two_replicas_concurrent_streaming_loopback(tmp_path: Path) -> None:
    ray2 = launchers.ray(num_replicas=2, num_cpus=0.25)
    calls = ServerModule("scaleout_targets:who_pipeline", launcher=ray2, name="who")
    streams = ServerModule("scaleout_targets:gated_pipeline", launcher=ray2, security_key=True)
    async with calls, streams:
        assert calls.url.startswith("http://127.0.0.1:") and "/asyncllm-" in calls.url
        results: list[Any] = [None] * 40

        async def one(i: int) -> None:
            results[i] = await calls(i)

        async with anyio.create_task_group() as tg:
            for i in range(40):
                tg.start_soon(one, i)
        assert [r["x"] for r in results] == [i + 1 for i in range(40)]
        pids = {r["pid"] for r in results}
        assert len(pids) == 2 and os.getpid() not in pids, pids  # both replicas answered
        assert {r["proxy"] for r in results} == {""}  # Ray's dead daemon proxy is not theirs

        gate = tmp_path / "gate"
        async with streams.stream(str(gate)) as st:
            chunks = []
            async for c in st:
                chunks.append(c)
                if c == "first":
                    gate.touch()  # only now may the server go on
        assert chunks == ["first", " second"] and {c.module for c in chunks} == {"gated"}
        assert st.result == "FIRST SECOND"

        # Leaving a stream early closes the connection; Ray's proxy cancels the replica's work.
        gate = tmp_path / "never"
        async with streams.stream(str(gate)) as st:
            async for c in st:
                assert c == "first"
                break
        with anyio.fail_after(20):
            while not (tmp_path / "never.closed").exists():
                await anyio.sleep(0.05)
        assert not gate.exists()

        # The OpenAI-compatible face answers through Ray's proxy too (key required).
        async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
            r = await client.get(f"{calls.url}/v1/models")
            assert r.status_code == 200 and r.json()["data"][0]["id"] == "who"
            r = await client.get(f"{streams.url}/v1/models")
            assert r.status_code == 401

        pids_all = process_tree(ray_pids() | {os.getpid()})
        assert foreign_sockets(pids_all) == []
        names = await anyio.to_thread.run_sync(_app_names)
        app = calls.url.rsplit("/", 1)[1]
        assert app in names
    # stop() deleted both applications; the proxy no longer routes to them
    names = await anyio.to_thread.run_sync(_app_names)
    assert app not in names
    async with httpx.AsyncClient(timeout=30, trust_env=False) as client:
        base = calls.launcher.launcher  # the RayLauncher behind the one-server adapter
        assert base is ray2
    assert calls.url == ""


@pytest.mark.anyio
async def test_command_runs_in_an_actor_with_secret_in_env_only() -> None:
    secret = f"tok-{os.urandom(8).hex()}"
    spec = CommandSpec([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"],
                       name="http-server", env={"ASYNCLLM_TEST_SECRET": secret}, health_path="/", num_cpus=0.25)
    handle = await launchers.ray().launch(spec)
    try:
        assert handle.url is not None and handle.url.startswith("http://127.0.0.1:")
        assert await handle.poll() is Status.RUNNING
        async with httpx.AsyncClient(timeout=10, trust_env=False) as client:
            assert (await client.get(handle.url + "/")).status_code == 200
        assert not any(secret.encode() in _cmdline(p) for p in os.listdir("/proc") if p.isdigit())
    finally:
        await handle.stop()
    assert handle.status is Status.CANCELLED
    async with httpx.AsyncClient(timeout=5, trust_env=False) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(handle.url + "/")


def _cmdline(pid: str) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read()
    except OSError:
        return b""


@pytest.mark.anyio
async def test_trial_grid_runs_as_ray_tasks() -> None:
    trial = al.TrialModule("scaleout_targets:scored", launcher=launchers.ray(num_cpus=0.5), concurrency=3)
    results = await trial.update()
    assert [r.values for r in results] == [[0.1, 1], [0.1, 2], [0.3, 1], [0.3, 2]]
    for r in results[:3]:
        assert r.ok, r.error
        lr, size = r.values
        [[got_lr, got_size, x, pid]] = r.eval_result
        assert (got_lr, got_size, x) == (lr, size, 5) and pid != os.getpid()
    bad = results[3]
    assert isinstance(bad.error, ModuleExecutionError) and "does not fit" in str(bad.error)


@pytest.mark.anyio
async def test_other_address_while_connected_is_a_config_error() -> None:
    from asyncllm._exceptions import ConfigError

    spec = CommandSpec(["true"], name="nothing")
    with pytest.raises(ConfigError, match="already connected to Ray"):
        await launchers.ray(address="127.0.0.1:1").launch(spec)


SERVE_FOREVER = ("import http.server, sys\n"
                 "http.server.HTTPServer(('127.0.0.1', int(sys.argv[2])), http.server.SimpleHTTPRequestHandler)"
                 ".serve_forever()\n")


@pytest.mark.anyio
async def test_killed_actor_takes_its_command_along() -> None:
    import ray as ray_mod

    marker = f"marker-{os.urandom(6).hex()}"
    spec = CommandSpec([sys.executable, "-c", SERVE_FOREVER, marker, "{port}"], name="orphan", health_path="/",
                       num_cpus=0.25)
    handle = await launchers.ray().launch(spec)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit() and marker.encode() in _cmdline(p)]
        assert pids, "the command is not running"
        await anyio.to_thread.run_sync(ray_mod.kill, handle._actor)  # the actor dies without stop()
        with anyio.fail_after(20):
            while any(marker.encode() in _cmdline(p) for p in pids):
                await anyio.sleep(0.1)
    finally:
        await handle.stop()  # a dead actor is fine to stop
    assert handle.status is Status.CANCELLED
