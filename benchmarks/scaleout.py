"""Scale-out cost and throughput: one served module behind the local launchers and behind Ray
Serve with 1 and 2 replicas, each measured against a bare Ray Serve echo in the same rounds.

    .venv/bin/python benchmarks/scaleout.py [--seconds 2] [--rounds 5] [--workloads wait20,spin5]
                                            [--configs inproc,subproc,ray1,ray2]

Served modules (benchmarks/_scaleout_targets.py):
* ``wait20``: an async 20 ms wait per call (I/O-bound), driven at concurrency 32;
* ``spin5``:  5 ms of pure-Python CPU work per call, driven at concurrency 8.

Rows per module: ``local inproc`` (the default launcher: hypercorn in a thread of this
process), ``local subproc`` (hypercorn in one child process), ``ray x1`` and ``ray x2``
(al.launchers.ray(num_replicas=N): Ray Serve replicas behind Ray's HTTP proxy, all on
127.0.0.1, replicas with ``max_ongoing_requests=32`` and ``num_cpus=0``). The client is
asyncllm's own (ServerModule calls, pooled keep-alive connections) on asyncio in this process.
The floor, ``ray bare``: a bare Starlette echo app (no asyncllm on the server, no work)
deployed on the same Ray Serve proxy, one replica, called with the same client at concurrency
32 — the ceiling of the proxy path on this machine.

How it measures, so that one run on a shared 2-core machine can be trusted. Everything (Ray, the
floor, every server) starts once and stays up. Each round measures every row once, the floor
included, in alternating order (forward in even rounds, backward in odd ones); each window is a
steady state (the workers run ``--warmup`` seconds before it opens and keep running until it
closes). Ratios are taken per round — a row's calls/s over the floor's calls/s of the same round
(``÷ floor``), over ``local inproc`` of the same module (``÷ local``), ``x2/x1`` for Ray — and the
table shows their median and the spread over ``--rounds``: the machine's load moves both members
of a ratio alike, which is what wall-clock calls/s alone cannot survive (Ray's echo floor swung
from 160 to 260 calls/s between runs of the same tree).

Wall-clock calls/s on two cores shared by the client, the proxy and the replicas is what a user
sees, but most of it is Ray's: the proxy and the client. What asyncllm adds on the Ray path is
the replica's work, so the Ray rows also report the **replica's CPU per call** (the sum of its
threads' run time from ``/proc/<pid>/task/*/schedstat``, nanoseconds, over the window, divided by
the calls; with 2 replicas, both) and the proxy's, and ``repl ÷ bare``: the replica's CPU per
call over the bare echo replica's in the same round. For ``wait20`` that is asyncllm's served
app (wire protocol, session, invoker) over a bare Starlette echo behind the same Ray replica
machinery; CPU time does not depend on how busy the other core is, so it is the steadiest
answer to "did the Ray path get slower". Before the rounds, each Ray row's replicas and the
proxy are watched for 2 s with no calls: what Ray's own timers cost, which every window's CPU
per call includes too (with 2 replicas, twice). CPU-bound rows (``spin5``) show how much of a second
core a second replica can use here, not a cluster's scaling. Ray's replica machinery costs
milliseconds of CPU per call here, so the last line adds the steady part: asyncllm's served app
and the bare echo app called directly (ASGI calls, no Ray, no sockets), CPU µs per request.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import serving  # type: ignore[import-not-found,unused-ignore]  # noqa: E402  # its CPU probe and app_alone

WORKLOADS = {"wait20": 32, "spin5": 8}
CONFIGS = {"inproc": "local inproc", "subproc": "local subproc", "ray1": "ray x1", "ray2": "ray x2"}
FLOOR = "ray bare"


def cpu_ns(pids: list[int]) -> int:
    """Run time of every thread of ``pids`` (and their children), in nanoseconds."""
    return sum(map(serving.proc_ns, pids))


class Window:
    """One steady-state window: calls done, wall seconds, CPU seconds of the replica(s) and the proxy."""

    def __init__(self, done: int, wall: float, replica: float, proxy: float) -> None:
        self.done, self.wall, self.replica, self.proxy = done, wall, replica, proxy

    @property
    def rps(self) -> float:
        return self.done / self.wall

    @property
    def replica_us(self) -> float:
        return self.replica / max(self.done, 1) * 1e6

    @property
    def proxy_us(self) -> float:
        return self.proxy / max(self.done, 1) * 1e6


class Row:
    """Something to measure: ``call(i)`` returns ``i``; ``replicas``/``proxy`` are the pids whose
    CPU the window counts (empty for the local launchers)."""

    def __init__(self, module: str, name: str, conc: int, call: Callable[[int], Awaitable[Any]],
                 replicas: list[int], proxy: list[int]) -> None:
        self.module, self.name, self.conc, self.call = module, name, conc, call
        self.replicas, self.proxy = replicas, proxy
        self.windows: list[Window] = []

    @property
    def is_ray(self) -> bool:
        return bool(self.replicas)


async def measure(row: Row, seconds: float, warmup: float) -> Window:
    """A steady-state window of ``row`` at its concurrency (serving.steady): wall time, CPU."""

    def probe() -> tuple[float, float, float]:
        return time.perf_counter(), cpu_ns(row.replicas) / 1e9, cpu_ns(row.proxy) / 1e9

    done, (wall, replica, proxy) = await serving.steady(row.call, row.conc, seconds, warmup, probe)
    return Window(done, wall, replica, proxy)


async def idle_cpu(row: Row, seconds: float = 2.0) -> tuple[float, float]:
    """Fraction of a core the replica(s) and the proxy of ``row`` use with no calls: what Ray's
    own timers cost, counted in every window's CPU per call as well."""
    r0, p0 = cpu_ns(row.replicas), cpu_ns(row.proxy)
    await anyio.sleep(seconds)
    r1, p1 = cpu_ns(row.replicas), cpu_ns(row.proxy)
    return (r1 - r0) / 1e9 / seconds, (p1 - p0) / 1e9 / seconds


# ------------------------------------------------------------------------------ Ray plumbing


def serve_pids(app: str) -> tuple[list[int], list[int]]:
    """(replica pids of Serve application ``app``, proxy pids), from Serve's own details."""
    from asyncllm.launchers._ray_runtime import serve_client

    client = serve_client()
    assert client is not None, "Ray Serve is not running"
    details = client.get_serve_details()
    deployments = (details.get("applications") or {})[app].get("deployments") or {}
    replicas = [r["pid"] for d in deployments.values() for r in d.get("replicas") or [] if r.get("pid")]
    # Serve's proxy details carry no pid: the proxy is the process Ray titled after its actor class.
    pids = map(int, filter(str.isdigit, os.listdir("/proc")))
    proxies = [pid for pid in pids if _title(pid).startswith("ray::ProxyActor")]
    if not replicas or not proxies:
        raise RuntimeError(f"Serve details name no replica/proxy pid for {app!r}: {details!r}")
    return replicas, proxies


def _title(pid: int) -> str:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")
    return ""


def worker_asyncllm() -> str:
    """Where a Ray worker of this run imports asyncllm from (what an A/B run must check)."""
    import ray

    def where() -> str:
        import asyncllm

        return _tree(asyncllm.__file__)

    return str(ray.get(ray.remote(num_cpus=0)(where).remote(), timeout=120))


def _tree(init_file: str | None) -> str:
    """The source tree a package's ``__init__.py`` lies in (its parent directory's parent)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(init_file or "?")))


@contextlib.asynccontextmanager
async def bare_floor() -> Any:
    """The floor deployment, up for the whole run: yields (call, replica pids, proxy pids)."""
    import anyio.to_thread
    from _scaleout_targets import bare_ray_app
    from ray import serve

    from asyncllm.launchers._ray_runtime import Runtime
    from asyncllm.serving import UrlModule

    port = await anyio.to_thread.run_sync(Runtime.ensure_serve, None, "127.0.0.1")
    await anyio.to_thread.run_sync(lambda: serve.run(bare_ray_app(), name="bare", route_prefix="/bare"))
    try:
        replicas, proxy = await anyio.to_thread.run_sync(serve_pids, "bare")
        yield UrlModule(url=f"http://127.0.0.1:{port}/bare"), replicas, proxy
    finally:
        await anyio.to_thread.run_sync(serve.delete, "bare")


def launcher_for(config: str) -> Any:
    from asyncllm import launchers

    if config == "inproc":
        return launchers.local()
    if config == "subproc":
        return launchers.local(subprocess=True)
    return launchers.ray(num_replicas=int(config[-1]), num_cpus=0, max_ongoing_requests=32)


# ------------------------------------------------------------------------------ running, report


async def main(seconds: float, rounds: int, warmup: float, workloads: list[str], configs: list[str]) -> None:
    import anyio.to_thread

    from asyncllm._http import aclose_all
    from asyncllm.launchers._ray_env import astart_ray
    from asyncllm.serving import ServerModule

    alone = await app_alone()
    t0 = time.perf_counter()
    ray_handle = await astart_ray(num_cpus=2, object_store_memory=100 * 1024**2)
    print(f"# ray started in {time.perf_counter() - t0:.1f}s (node {ray_handle.node_ip})", file=sys.stderr)
    try:
        import asyncllm

        where = await anyio.to_thread.run_sync(worker_asyncllm)
        print(f"asyncllm: this process {_tree(asyncllm.__file__)}, Ray workers {where}")
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(aclose_all)
            call, replicas, proxy = await stack.enter_async_context(bare_floor())
            rows = [Row("echo", FLOOR, 32, call, replicas, proxy)]
            for module in workloads:
                for config in configs:
                    t1 = time.perf_counter()
                    s = await stack.enter_async_context(
                        ServerModule(f"_scaleout_targets:{module}", launcher=launcher_for(config)))
                    replicas, proxy = [], []
                    if config.startswith("ray"):
                        app = s.url.rstrip("/").rsplit("/", 1)[1]
                        replicas, proxy = await anyio.to_thread.run_sync(serve_pids, app)
                    rows.append(Row(module, CONFIGS[config], WORKLOADS[module], s, replicas, proxy))
                    print(f"# {module} {CONFIGS[config]} up in {time.perf_counter() - t1:.1f}s", file=sys.stderr)
            idle = [(row, await idle_cpu(row)) for row in rows if row.is_ray]
            print(f"idle (no calls, 2 s), a core's share: the proxy {idle[0][1][1]:.1%}; the replica(s) of "
                  + ", ".join(f"{row.module} {row.name} {use[0]:.1%}" for row, use in idle))
            for row in rows:  # open the connection pools before any window
                for i in range(row.conc):
                    assert await row.call(i) == i
            for r in range(rounds):
                for row in rows if r % 2 == 0 else rows[::-1]:
                    row.windows.append(await measure(row, seconds, warmup))
                print(f"# round {r + 1}/{rounds}: floor {rows[0].windows[-1].rps:.0f} calls/s", file=sys.stderr)
    finally:
        await ray_handle.astop()
    report(rows)
    print(f"\nthe served app alone, as a Ray replica runs it (create_app of an async echo, ASGI calls, no "
          f"Ray or sockets): {alone[0]:.1f} µs CPU per request, the bare Starlette echo {alone[1]:.1f} µs")


async def app_alone() -> tuple[float, float]:
    """CPU µs per request of asyncllm's served app and of the floor's bare app, called directly:
    asyncllm's share of the replica's work, steady where the whole Ray path is not."""
    from _scaleout_targets import echo

    from asyncllm.serving import create_app

    return await serving.app_alone(create_app(echo)), await serving.app_alone(serving.floor_app())


def report(rows: list[Row]) -> None:
    floor = rows[0]
    med = statistics.median
    print(f"\nfloor: {FLOOR} (Starlette echo in one Ray Serve replica) at concurrency {floor.conc}: "
          f"{serving._spread([w.rps for w in floor.windows], '.0f')} calls/s, replica "
          f"{serving._spread([w.replica_us for w in floor.windows], '.0f')} µs CPU/call, proxy "
          f"{med(w.proxy_us for w in floor.windows):.0f} µs CPU/call")
    print(f"\n{'module':7} {'launcher':13} {'conc':>4} {'calls/s':>8} {'÷ floor':>17} {'÷ local':>17} "
          f"{'x2/x1':>17} {'repl µs':>8} {'repl ÷ bare':>17} {'repl − bare µs':>18} {'proxy µs':>8}")
    for row in rows[1:]:
        per_round = list(zip(row.windows, floor.windows, strict=True))
        local = next((x for x in rows if x.module == row.module and x.name == "local inproc"), None)
        x1 = next((x for x in rows if x.module == row.module and x.name == "ray x1"), None)
        cols = [serving._spread([w.rps / f.rps for w, f in per_round])]
        cols.append(serving._spread([w.rps / v.rps for w, v in zip(row.windows, local.windows, strict=True)])
                    if local is not None and local is not row else "")
        cols.append(serving._spread([w.rps / v.rps for w, v in zip(row.windows, x1.windows, strict=True)])
                    if x1 is not None and row.name == "ray x2" else "")
        if row.is_ray:
            repl = f"{med(w.replica_us for w in row.windows):8.0f}"
            cols.append(serving._spread([w.replica_us / f.replica_us for w, f in per_round]))
            cols.append(serving._spread([w.replica_us - f.replica_us for w, f in per_round], ".0f"))
            proxy = f"{med(w.proxy_us for w in row.windows):8.0f}"
        else:
            repl, proxy = "", ""
            cols += ["", ""]
        print(f"{row.module:7} {row.name:13} {row.conc:4d} {med(w.rps for w in row.windows):8.0f} "
              f"{cols[0]:>17} {cols[1]:>17} {cols[2]:>17} {repl:>8} {cols[3]:>17} {cols[4]:>18} {proxy:>8}")
    print("\nratios: median [min-max] over the rounds of per-round ratios; calls/s, µs: medians. "
          "repl µs: CPU per call of the Ray replica process(es); repl ÷ bare: that over the bare "
          "echo replica's in the same round, and repl − bare the difference: for wait20, what asyncllm's served "
          "app adds per call on the Ray path (spin5: plus its 5 ms of work); lower is better; with 2 replicas "
          "both count, and Ray's idle timers in each.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.0, help="measured window per row and round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds (the table shows medians)")
    parser.add_argument("--warmup", type=float, default=0.5, help="load before each window opens")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help=f"of {', '.join(WORKLOADS)}")
    parser.add_argument("--configs", default=",".join(CONFIGS), help=f"of {', '.join(CONFIGS)}")
    args = parser.parse_args()
    chosen_w, chosen_c = args.workloads.split(","), args.configs.split(",")
    if unknown := [w for w in chosen_w if w not in WORKLOADS] + [c for c in chosen_c if c not in CONFIGS]:
        parser.error(f"unknown workload/config {unknown}: workloads are {list(WORKLOADS)}, configs {list(CONFIGS)}")
    warnings.filterwarnings("ignore", category=DeprecationWarning)  # ray.serve's pydantic imports
    anyio.run(main, args.seconds, args.rounds, args.warmup, chosen_w, chosen_c, backend="asyncio")
