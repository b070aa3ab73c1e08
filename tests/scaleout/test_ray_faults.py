"""al.launchers.ray under faults, on the session's real Ray (127.0.0.1, 2 CPUs): starts that
cannot be placed fail loudly and in bounded time, a replica killed under load runs no call
twice and the failed calls say why, handles notice death on their own, Serve healing a replica
is not an end, and a crashing trial runs once. (Issue 17; items 2-6.)"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from fault_check import crashy_runs, engine_to_kill, noticed_end, until

pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")

import asyncllm as al
from asyncllm import launchers
from asyncllm.launchers import CommandSpec, Status
from asyncllm.serving import ServerModule

pytestmark = [
    pytest.mark.ray,
    pytest.mark.anyio,
    pytest.mark.timeout(300),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # ray.serve's pydantic imports
    pytest.mark.usefixtures("ray_local", "pools"),
]


def _app_names() -> set[str]:
    from ray import serve

    return set(serve.status().applications)


def _replica_actors(app: str) -> list[Any]:
    import ray

    named = ray.util.list_named_actors(all_namespaces=True)
    return [ray.get_actor(a["name"], namespace="serve") for a in named
            if a["namespace"] == "serve" and a["name"].startswith(f"SERVE_REPLICA::{app}#")]


def _free_cpus() -> float:
    import ray

    return float(ray.available_resources().get("CPU", 0.0))


# -- 2. bounded starts, resources reported, defaults that fit ---------------------------------

async def test_default_replica_cpus_fit_the_machine() -> None:
    # Serve's own default (1 CPU per replica) lets the first module take both CPUs; the second
    # then waited forever.
    a = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_replicas=2, start_timeout=60))
    b = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_replicas=2, start_timeout=60))
    with anyio.fail_after(150):
        async with a, b:
            assert await a(1) == 1 and await b(2) == 2
            free = await anyio.to_thread.run_sync(_free_cpus)
            assert free >= 1.0, free  # 4 replicas take at most a quarter of a 2-CPU node each module


async def test_unplaceable_requests_fail_at_once_naming_what_was_asked() -> None:
    names = await anyio.to_thread.run_sync(_app_names)
    with anyio.fail_after(60):
        with pytest.raises(al.ResourcesUnavailableError, match=r"CPU 3.*largest node: CPU 2") as info:
            await ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_cpus=3)).start()
    assert info.value.requested == {"CPU": 3.0} and info.value.available["CPU"] == 2.0
    with anyio.fail_after(60):
        with pytest.raises(al.ResourcesUnavailableError, match=r"GPU 1"):
            await launchers.ray().launch(CommandSpec(["sleep", "60"], name="gpu-job", num_gpus=1))
    assert await anyio.to_thread.run_sync(_app_names) == names  # nothing left behind


async def test_start_waiting_for_resources_is_bounded_and_cancellable() -> None:
    hog = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_replicas=2, num_cpus=1))
    async with hog:
        names = await anyio.to_thread.run_sync(_app_names)
        late = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_cpus=1, start_timeout=6))
        with anyio.fail_after(60):
            with pytest.raises(al.ResourcesUnavailableError,
                               match=r"not be placed within 6s: 1 x \(CPU 1\) asked for.*CPU 0 free of CPU 2"):
                await late.start()
        # The caller's cancellation reaches a start that waits for resources, and cleans up.
        waiting = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_cpus=1, start_timeout=120))
        with anyio.fail_after(60):
            with anyio.move_on_after(3) as scope:
                await waiting.start()
        assert scope.cancelled_caught
        await waiting.stop()
        with anyio.fail_after(30):
            while await anyio.to_thread.run_sync(_app_names) != names:
                await anyio.sleep(0.2)


# -- 3. a replica killed under load: nothing runs twice, failures name the cause --------------

async def test_replica_death_runs_no_call_twice_and_names_the_cause(tmp_path: Path) -> None:
    import ray

    s = ServerModule("scaleout_targets:record_call", launcher=launchers.ray(num_replicas=2, num_cpus=0.25))
    results: dict[int, Any] = {}
    async with s:
        victim = (await anyio.to_thread.run_sync(_replica_actors, s.url.rsplit("/", 1)[1]))[0]
        todo = iter(range(150))

        async def worker() -> None:
            for i in todo:
                try:
                    results[i] = await s(i, str(tmp_path), 0.1)
                except Exception as exc:
                    results[i] = exc

        async with anyio.create_task_group() as tg:
            for _ in range(16):
                tg.start_soon(worker)
            await anyio.sleep(1.5)
            await anyio.to_thread.run_sync(ray.kill, victim)
    runs = {i: len((tmp_path / str(i)).read_text().splitlines()) if (tmp_path / str(i)).exists() else 0
            for i in range(150)}
    assert max(runs.values()) == 1, {i: n for i, n in runs.items() if n > 1}  # no call ran twice
    failed = {i: r for i, r in results.items() if isinstance(r, Exception)}
    assert all(runs[i] == 1 for i in results if i not in failed)
    assert failed, "the killed replica was running calls"
    for err in failed.values():
        assert isinstance(err, al.ServerLostError), repr(err)
        assert "died" in err.cause and "ray.kill" in err.cause and "not sent again" in str(err)


# -- 4. handles notice death on their own; wait() waits ---------------------------------------

def _engine_pids(port: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if b"asyncllm.deploy._dummy_server" in cmd and port.encode() in cmd and b"-c" not in cmd:
            pids.append(int(entry))
    return pids


@pytest.mark.parametrize("kill", ["actor", "engine"])
async def test_engine_status_notices_death_on_its_own(kill: str) -> None:
    import ray

    async with engine_to_kill(launchers.ray(num_cpus=0.25)) as m:
        handle = m.engine.process.handle
        if kill == "actor":
            await anyio.to_thread.run_sync(ray.kill, handle._actor)
        else:
            port = m.url.rsplit(":", 1)[1].split("/")[0]
            pids = await anyio.to_thread.run_sync(_engine_pids, port)
            assert pids
            for pid in pids:
                os.kill(pid, signal.SIGKILL)
        await noticed_end(m)  # nobody polls
        assert handle.status is Status.FAILED
        if kill == "actor":
            assert "actor" in handle.cause and "died" in handle.cause and "ray.kill" in handle.cause
        else:
            assert "exited with code" in handle.cause


async def test_served_module_notices_its_application_deleted_outside() -> None:
    from ray import serve

    s = ServerModule("scaleout_targets:nap", launcher=launchers.ray(num_cpus=0.25))
    async with s:
        handle = s.launcher.handle
        await anyio.to_thread.run_sync(serve.delete, s.url.rsplit("/", 1)[1])
        await until(lambda: handle.status is Status.CANCELLED, 15)
        assert "deleted outside" in handle.cause
        with anyio.fail_after(10):
            await s.wait()


# -- 5. Serve healing a replica is not the end --------------------------------------------------

async def test_replica_being_replaced_is_not_terminal() -> None:
    import ray
    from ray import serve
    from scaleout_targets import SLOW_START_MARKER

    s = ServerModule("scaleout_targets:slow_restart", launcher=launchers.ray(num_cpus=0.25))
    async with s:
        app = s.url.rsplit("/", 1)[1]
        seen: set[str] = set()

        async def watch() -> None:
            while True:
                status = await anyio.to_thread.run_sync(lambda: serve.status().applications[app].status)
                seen.add(str(getattr(status, "value", status)))
                await anyio.sleep(0.2)

        await anyio.Path(SLOW_START_MARKER).touch()
        try:
            [replica] = await anyio.to_thread.run_sync(_replica_actors, app)
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch)
                await anyio.to_thread.run_sync(ray.kill, replica)
                # Serve notices at its next health check (<= 10 s), then starts a slow (8 s) successor.
                with anyio.move_on_after(25) as waited:
                    await s.wait()
                tg.cancel_scope.cancel()
        finally:
            await anyio.Path(SLOW_START_MARKER).unlink(missing_ok=True)
        assert "UNHEALTHY" in seen, seen  # Serve did report the replacement
        assert waited.cancelled_caught  # and wait() did not take it for an end
        assert await s.launcher.handle.poll() is Status.RUNNING
        with anyio.fail_after(60):
            while True:
                try:
                    assert await s(7) == 7
                    break
                except al.APIError:
                    await anyio.sleep(0.5)


# -- 6. a crashing trial runs once (unless retries say otherwise) -----------------------------

@pytest.mark.parametrize("retries", [0, 1])
async def test_crashing_trial_is_not_silently_retried(retries: int) -> None:
    result, runs = await crashy_runs(launchers.ray(num_cpus=0.25), retries)
    assert runs == retries + 1  # Ray's default was 4
    assert "WorkerCrashedError" in str(result.error)


def test_trial_retries_must_be_a_count() -> None:
    with pytest.raises(al.ConfigError, match="retries"):
        al.TrialModule("scaleout_targets:crashy", retries=-1)
