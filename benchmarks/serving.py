"""Serving overhead: requests/s and client+server CPU per request of a trivial served module,
against a bare starlette + hypercorn echo app driven by raw aiohttp (the floor), at
concurrency 1 / 32 / 256, all in one run.

    .venv/bin/python benchmarks/serving.py [--seconds 2.5]

Rows:
* ``floor``          raw aiohttp client → bare starlette echo app under hypercorn (subprocess)
* ``asyncllm subproc`` UrlModule → ServerModule(trivial, launcher="subprocess")
* ``asyncllm inproc``  ServerModule(trivial) in this process (server in its own thread loop)
* ``lazyllm``        LazyLLM's ServerModule + its own blocking client in threads, run by an
  interpreter that has ``lazyllm`` (this one, or ``--lazyllm-python PATH``); skipped otherwise.
  Its client and server share both cores, so its client/server split is rougher.

Subprocess servers are pinned to one core and the client to the other
(``os.sched_setaffinity``); server CPU is read from ``/proc/<pid>/stat``, client CPU with
``time.process_time``. The in-process row runs both halves in this process, so its
"client" column is client and server together. Everything is on 127.0.0.1 with keep-alive,
on asyncio. Ratios are to the floor at the same concurrency.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson
from anyio.abc import Process

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
CONCURRENCY = (1, 32, 256)


def trivial(x: Any) -> Any:
    """The served module: as little work as possible, so the cost measured is the serving."""
    return x


# ------------------------------------------------------------------------------ floor server


def floor_server(port_file: str) -> None:
    """A bare starlette app under hypercorn: parse the JSON body, answer the first argument."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return Response(orjson.dumps({"output": body["args"][0]}), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    app = Starlette(routes=[Route("/generate", echo, methods=["POST"]), Route("/health", health)])
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.keep_alive_timeout = 75.0
    config.accesslog = None
    anyio.run(serve, app, config)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------ measuring


def _proc_cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _group_cpu(pid: int) -> float:
    """CPU of ``pid`` and its children (the subprocess launcher's server is a child of nothing
    we start, but the floor server is this pid itself)."""
    total = _proc_cpu(pid)
    for child in _children(pid):
        total += _proc_cpu(child)
    return total


def _children(pid: int) -> list[int]:
    path = f"/proc/{pid}/task/{pid}/children"
    try:
        with open(path) as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        return []


async def measure(call: Callable[[int], Awaitable[Any]], conc: int, seconds: float,
                  server_pid: int | None) -> dict[str, float]:
    """Run ``conc`` workers calling ``call`` for ``seconds``; returns req/s and CPU µs/request."""
    for i in range(min(conc, 64)):  # warm the pools
        await call(i)
    done = 0
    stop_at = 0.0

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < stop_at:
            out = await call(i)
            if out != i:
                raise AssertionError(f"wrong answer {out!r} for {i}")
            done += 1
            i += conc

    c0, s0, t0 = time.process_time(), _group_cpu(server_pid) if server_pid else 0.0, time.perf_counter()
    stop_at = t0 + seconds
    async with anyio.create_task_group() as tg:
        for w in range(conc):
            tg.start_soon(worker, w)
    t1, c1 = time.perf_counter(), time.process_time()
    s1 = _group_cpu(server_pid) if server_pid else 0.0
    return {"rps": done / (t1 - t0), "client_us": (c1 - c0) / done * 1e6, "server_us": (s1 - s0) / done * 1e6}


# ------------------------------------------------------------------------------ rows


async def wait_port(port_file: str, proc: Process) -> int:
    path = anyio.Path(port_file)
    with anyio.fail_after(30):
        while not await path.exists():
            if proc.returncode is not None:
                raise RuntimeError("floor server exited early")
            await anyio.sleep(0.02)
    return int(await path.read_text())


async def row_floor(seconds: float) -> dict[int, dict[str, float]]:
    import _floor  # type: ignore[import-not-found,unused-ignore]

    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = await anyio.open_process([sys.executable, __file__, "--floor-server", port_file],
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.sched_setaffinity(proc.pid, {1})
            port = await wait_port(port_file, proc)
            url = f"http://127.0.0.1:{port}/generate"
            out = {}
            async with _floor.aiohttp_session(256) as session:
                for conc in CONCURRENCY:
                    async def call(i: int) -> Any:
                        body = {"args": [i], "kwargs": {}}
                        return (await _floor.aiohttp_json(session, url, body, {}))["output"]
                    out[conc] = await measure(call, conc, seconds, proc.pid)
            return out
        finally:
            proc.terminate()
            with anyio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.aclose()


async def row_asyncllm(seconds: float, launcher: str) -> dict[int, dict[str, float]]:
    from asyncllm._http import aclose_all
    from asyncllm.serving import ServerModule, UrlModule

    target: Any = "serving:trivial" if launcher == "subprocess" else trivial
    s = ServerModule(target, launcher=launcher)
    await s.start()
    try:
        pid = getattr(s.launcher, "pid", None)
        if pid:
            os.sched_setaffinity(pid, {1})
        client = UrlModule(url=s.url) if launcher == "subprocess" else s
        out = {}
        for conc in CONCURRENCY:
            out[conc] = await measure(client, conc, seconds, pid)
        return out
    finally:
        await s.stop()
        await aclose_all()


def lazyllm_python(explicit: str | None) -> str | None:
    """An interpreter that can import lazyllm: ``--lazyllm-python``, else this one if it can."""
    if explicit:
        return explicit
    return sys.executable if importlib.util.find_spec("lazyllm") is not None else None


async def row_lazyllm(python: str, seconds: float) -> dict[int, dict[str, float]]:
    levels = ",".join(str(c) for c in CONCURRENCY)
    proc = await anyio.open_process([python, os.path.join(HERE, "_lazyllm_serving.py"), str(seconds), levels],
                                    stderr=subprocess.DEVNULL, start_new_session=True)
    os.sched_setaffinity(proc.pid, {0, 1})  # its client threads and its server share both cores
    out = b""
    try:
        assert proc.stdout is not None
        with anyio.fail_after(60 + 4 * seconds * len(CONCURRENCY)):
            async for chunk in proc.stdout:
                out += chunk
            await proc.wait()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await proc.aclose()
    for line in out.decode().splitlines():
        if line.startswith("LAZYLLM_RESULT "):
            return {int(k): v for k, v in orjson.loads(line.split(" ", 1)[1]).items()}
    raise RuntimeError(f"the LazyLLM driver printed no result (exit {proc.returncode})")


async def main(seconds: float, lazy_python: str | None) -> None:
    os.sched_setaffinity(0, {0})
    rows: dict[str, dict[int, dict[str, float]]] = {}
    rows["floor (bare starlette+hypercorn, raw aiohttp)"] = await row_floor(seconds)
    rows["asyncllm subprocess"] = await row_asyncllm(seconds, "subprocess")
    rows["asyncllm in-process"] = await row_asyncllm(seconds, "inprocess")
    if lazy_python is None:
        print("lazyllm is not importable here and no --lazyllm-python was given: skipping the LazyLLM row")
    else:
        rows["lazyllm ServerModule + UrlModule (threads)"] = await row_lazyllm(lazy_python, seconds)
    floor = rows["floor (bare starlette+hypercorn, raw aiohttp)"]
    print(f"\n{'row':48} {'conc':>5} {'req/s':>8} {'client µs':>10} {'server µs':>10} {'total µs':>9}"
          f" {'req/s ×':>8} {'CPU ×':>7}")
    for name, data in rows.items():
        for conc, r in data.items():
            total = r["client_us"] + r["server_us"]
            f = floor[conc]
            ftotal = f["client_us"] + f["server_us"]
            print(f"{name:48} {conc:>5} {r['rps']:>8.0f} {r['client_us']:>10.0f} {r['server_us']:>10.0f} "
                  f"{total:>9.0f} {r['rps'] / f['rps']:>8.2f} {total / ftotal:>7.2f}")
    print("\nreq/s ×: requests/s relative to the floor (higher is better); CPU ×: client+server CPU per "
          "request relative to the floor (lower is better). In-process: both halves are in 'client'.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=2.5, help="measuring time per cell")
    parser.add_argument("--lazyllm-python", default=os.environ.get("LAZYLLM_PYTHON"),
                        help="an interpreter with lazyllm installed (default: $LAZYLLM_PYTHON, or this one)")
    parser.add_argument("--floor-server", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server(args.floor_server)
    else:
        anyio.run(main, args.seconds, lazyllm_python(args.lazyllm_python))
