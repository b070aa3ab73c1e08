"""Scale-out throughput: one served module behind the local launcher vs Ray Serve with 1 and 2
replicas, side by side in one run.

    .venv/bin/python benchmarks/scaleout.py [--seconds 4]

Two served modules (benchmarks/_scaleout_targets.py):
* ``wait20``: an async 20 ms wait per call (I/O-bound), driven at concurrency 32;
* ``spin5``:  5 ms of pure-Python CPU work per call, driven at concurrency 8.

Rows per module: ``local inproc`` (the default launcher: hypercorn in a thread of this
process), ``local subproc`` (hypercorn in one child process), ``ray x1`` and ``ray x2``
(al.launchers.ray(num_replicas=N): Ray Serve replicas behind Ray's HTTP proxy, all on
127.0.0.1, replicas with ``max_ongoing_requests=32`` and ``num_cpus=0``). The client is
asyncllm's own (ServerModule calls, pooled keep-alive connections) on asyncio in this process.
Floor row ``ray bare x1``: a bare Starlette echo app (no asyncllm on the server, no work)
deployed on the same Ray Serve proxy and called with the same client — the ceiling of the
proxy path on this machine. Ratios are to ``local inproc`` of the same module, plus
``x2/x1`` for Ray. The machine's
cores are shared by the client, the proxy and the replicas, so CPU-bound rows show how much
of a second core a second replica can use here, not a cluster's scaling.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import Any

import anyio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

WORKLOADS = (("wait20", 32), ("spin5", 8))


async def measure(s: Any, concurrency: int, seconds: float) -> tuple[float, float]:
    """(calls/s, mean latency ms) over ``seconds`` after a short warm-up."""
    for i in range(concurrency):
        assert await s(i) == i
    done = 0
    lat = 0.0
    end = time.perf_counter() + seconds

    async def worker(k: int) -> None:
        nonlocal done, lat
        while time.perf_counter() < end:
            t0 = time.perf_counter()
            assert await s(k) == k
            lat += time.perf_counter() - t0
            done += 1

    t0 = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for k in range(concurrency):
            tg.start_soon(worker, k)
    elapsed = time.perf_counter() - t0
    return done / elapsed, 1000 * lat / max(done, 1)


async def measure_bare(seconds: float) -> tuple[float, float]:
    import anyio.to_thread
    from _scaleout_targets import bare_ray_app
    from ray import serve

    from asyncllm.launchers._ray_runtime import Runtime
    from asyncllm.serving import UrlModule

    port = await anyio.to_thread.run_sync(Runtime.ensure_serve, None, "127.0.0.1")
    await anyio.to_thread.run_sync(lambda: serve.run(bare_ray_app(), name="bare", route_prefix="/bare"))
    try:
        return await measure(UrlModule(url=f"http://127.0.0.1:{port}/bare"), 32, seconds)
    finally:
        await anyio.to_thread.run_sync(serve.delete, "bare")


async def main(seconds: float) -> None:
    from asyncllm import launchers
    from asyncllm._http import aclose_all
    from asyncllm.launchers._ray_env import astart_ray
    from asyncllm.serving import ServerModule

    t0 = time.perf_counter()
    ray_handle = await astart_ray(num_cpus=2, object_store_memory=100 * 1024**2)
    print(f"# ray started in {time.perf_counter() - t0:.1f}s (node {ray_handle.node_ip})")
    rows: list[tuple[str, str, int, float, float]] = []
    try:
        rows.append(("bare", "ray bare x1", 32, *(await measure_bare(seconds))))
        print(f"# bare    ray bare x1    : {rows[-1][3]:8.1f} calls/s", flush=True)
        for target, conc in WORKLOADS:
            configs: list[tuple[str, Any]] = [
                ("local inproc", launchers.local()),
                ("local subproc", launchers.local(subprocess=True)),
                ("ray x1", launchers.ray(num_replicas=1, num_cpus=0, max_ongoing_requests=32)),
                ("ray x2", launchers.ray(num_replicas=2, num_cpus=0, max_ongoing_requests=32)),
            ]
            for label, launcher in configs:
                t1 = time.perf_counter()
                async with ServerModule(f"_scaleout_targets:{target}", launcher=launcher) as s:
                    started = time.perf_counter() - t1
                    rps, ms = await measure(s, conc, seconds)
                rows.append((target, label, conc, rps, ms))
                print(f"# {target:7s} {label:14s} up in {started:5.1f}s: {rps:8.1f} calls/s", flush=True)
                await aclose_all()
    finally:
        await ray_handle.astop()

    print()
    _, label, conc, rps, ms = rows[0]
    print(f"floor: {label} (echo, no work) at concurrency {conc}: {rps:.1f} calls/s, {ms:.1f} ms mean")
    print(f"{'module':8s} {'launcher':14s} {'conc':>4s} {'calls/s':>9s} {'mean ms':>8s} {'vs local':>9s} {'x2/x1':>6s}")
    for target, _ in WORKLOADS:
        mine = {label: (rps, ms, conc) for t, label, conc, rps, ms in rows if t == target}
        base = mine["local inproc"][0]
        for label, (rps, ms, conc) in mine.items():
            x2 = f"{mine['ray x2'][0] / mine['ray x1'][0]:6.2f}" if label == "ray x2" else ""
            print(f"{target:8s} {label:14s} {conc:4d} {rps:9.1f} {ms:8.1f} {rps / base:9.2f} {x2:>6s}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # ray.serve's pydantic imports
    anyio.run(main, args.seconds, backend="asyncio")
