"""Serving overhead: client+server CPU per request of a trivial served module against a bare
starlette + hypercorn app driven by raw aiohttp (the floor), at concurrency 1 / 32 / 256.

    .venv/bin/python benchmarks/serving.py [--seconds 1] [--rounds 7]

Rows (each asyncllm row is paired with the floor of the same shape):
* ``floor subproc``     raw aiohttp client -> bare starlette app under plain hypercorn, in a
  child process: ``orjson.loads`` the body, answer ``{"output": args[0]}``
* ``asyncllm subproc``  UrlModule -> ServerModule(trivial, launcher="subprocess")
* ``floor in-proc``     the same bare app and client, the app under hypercorn on its own thread
  loop in this process (the shape the in-process launcher has)
* ``asyncllm in-proc``  ServerModule(trivial) in this process (launcher="inprocess")
* ``lazyllm``           LazyLLM's ServerModule + its own blocking client in threads, run by an
  interpreter that has ``lazyllm`` (this one, or ``--lazyllm-python PATH``); skipped otherwise.
  Its client and server share both cores, so its client/server split is rougher.

How it measures, so that one run on a busy machine can be trusted: CPU time, not wall time;
every cell is a steady-state window (the workers run ``--warmup`` seconds before the window
opens and keep running until it closes, so connection set-up and the ramp-down are outside
it); servers start once and stay up; each round measures every concurrency for both members
of a pair back to back, in alternating order (floor first in even rounds, asyncllm first in
odd ones), and the ratio is taken per round; the table shows the median over ``--rounds``
rounds and the spread of the per-round ratios. Client CPU is ``time.process_time`` (the
in-process rows: the client loop's own thread, ``time.thread_time``, and the rest of the
process is the server); a child server's CPU is the sum of its threads' run time from
``/proc/<pid>/task/*/schedstat`` (nanoseconds, not 10 ms ticks). Subprocess servers are pinned
to one core and this process to the other. Everything is on 127.0.0.1 with keep-alive, on asyncio.
A last line gives the served app's own share: both ASGI apps called directly, without a server.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import anyio
import anyio.from_thread
import orjson
from anyio.abc import Process

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
CONCURRENCY = (1, 32, 256)


def trivial(x: Any) -> Any:
    """The served module: as little work as possible, so the cost measured is the serving."""
    return x


# ------------------------------------------------------------------------------ floor server


def floor_app() -> Any:
    """A bare starlette app: parse the JSON body, answer the first argument."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def echo(request: Request) -> Response:
        body = orjson.loads(await request.body())
        return Response(orjson.dumps({"output": body["args"][0]}), media_type="application/json")

    async def health(request: Request) -> Response:
        return Response(b'{"status":"ok"}', media_type="application/json")

    return Starlette(routes=[Route("/generate", echo, methods=["POST"]), Route("/health", health)])


def floor_config(sock: socket.socket) -> Any:
    """hypercorn's own configuration, but for the socket we bound and no access log."""
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.keep_alive_timeout = 75.0
    config.accesslog = None
    return config


def listening_socket() -> socket.socket:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(1024)
    return sock


def floor_server(port_file: str) -> None:
    """The subprocess floor: the bare app under hypercorn, its port written to ``port_file``."""
    from hypercorn.asyncio import serve

    sock = listening_socket()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(port_file + ".tmp", port_file)
    anyio.run(serve, floor_app(), floor_config(sock))  # type: ignore[arg-type]


@contextlib.contextmanager
def floor_in_process() -> Iterator[str]:
    """The in-process floor: the bare app under hypercorn on its own thread loop (a blocking
    portal, as the in-process launcher runs its server); yields the ``/generate`` URL."""
    from hypercorn.asyncio import serve

    sock = listening_socket()
    url = f"http://127.0.0.1:{sock.getsockname()[1]}/generate"
    with anyio.from_thread.start_blocking_portal("asyncio", name="floor-server") as portal:
        stop = portal.call(anyio.Event)
        run = functools.partial(serve, floor_app(), floor_config(sock), shutdown_trigger=stop.wait)
        future = portal.start_task_soon(run)  # type: ignore[arg-type]
        try:
            yield url
        finally:
            portal.call(stop.set)
            future.result(30)


# ------------------------------------------------------------------------------ measuring


def proc_ns(pid: int) -> int:
    """Run time of every thread of ``pid`` and of its child processes, in nanoseconds."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/children") as f:
                total += sum(proc_ns(int(c)) for c in f.read().split())
    return total


class Cell:
    """One measured window: requests done, client and server CPU seconds, wall seconds."""

    def __init__(self, done: int, client: float, server: float, wall: float) -> None:
        self.done, self.client, self.server, self.wall = done, client, server, wall

    @property
    def client_us(self) -> float:
        return self.client / self.done * 1e6

    @property
    def server_us(self) -> float:
        return self.server / self.done * 1e6

    @property
    def total_us(self) -> float:
        return self.client_us + self.server_us

    @property
    def rps(self) -> float:
        return self.done / self.wall


async def steady(call: Callable[[int], Awaitable[Any]], conc: int, seconds: float, warmup: float,
                 probe: Callable[[], tuple[float, ...]]) -> tuple[int, tuple[float, ...]]:
    """``conc`` workers call ``call`` without pause; the window opens after ``warmup`` seconds
    and closes ``seconds`` later, with every worker still busy (steady state on both sides).
    Returns the calls done in the window and how much each of ``probe()``'s readings grew."""
    done = 0
    running = True

    async def worker(w: int) -> None:
        nonlocal done
        i = w
        while running:
            out = await call(i)
            if out != i:
                raise AssertionError(f"wrong answer {out!r} for {i}")
            done += 1
            i += conc

    async with anyio.create_task_group() as tg:
        for w in range(conc):
            tg.start_soon(worker, w)
        await anyio.sleep(warmup)
        n0, p0 = done, probe()
        await anyio.sleep(seconds)
        n1, p1 = done, probe()
        running = False
    return n1 - n0, tuple(b - a for a, b in zip(p0, p1, strict=True))


async def measure(call: Callable[[int], Awaitable[Any]], conc: int, seconds: float, warmup: float,
                  server_pid: int | None) -> Cell:
    """A steady-state window: client and server CPU, wall time."""

    def probe() -> tuple[float, float, float]:
        if server_pid is None:  # in-process: this thread is the client, the rest the server
            client, server = time.thread_time(), time.process_time()
            return client, server - client, time.perf_counter()
        return time.process_time(), proc_ns(server_pid) / 1e9, time.perf_counter()

    done, (client, server, wall) = await steady(call, conc, seconds, warmup, probe)
    return Cell(done, client, server, wall)


async def app_alone(app: Any, n: int = 5000, repeats: int = 8) -> float:
    """CPU µs per ``/generate`` request of an ASGI app called directly (no server, no sockets):
    the app's own share, steadier than the whole path; the best of ``repeats``."""
    body = orjson.dumps({"args": [1], "kwargs": {}})
    headers = [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode()), (b"accept", b"*/*")]
    message = {"type": "http.request", "body": body, "more_body": False}
    answer: list[Any] = []
    pending = False

    async def receive() -> Any:
        # The body once, then nothing until the client goes, as a server does: an app that
        # watches for a disconnect while an async target runs must wait here, not spin.
        nonlocal pending
        if pending:
            pending = False
            return message
        await anyio.sleep_forever()

    async def send(m: Any) -> None:
        answer.append(m)

    def scope() -> dict[str, Any]:
        return {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                "scheme": "http", "path": "/generate", "raw_path": b"/generate", "query_string": b"",
                "root_path": "", "headers": headers, "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}

    best = float("inf")
    for _ in range(repeats):
        t0 = time.process_time()
        for _ in range(n):
            pending = True
            await app(scope(), receive, send)
        best = min(best, (time.process_time() - t0) / n * 1e6)
        if answer[-1].get("body") != b'{"output":1}':
            raise AssertionError(f"wrong answer {answer[-2:]!r}")
        answer.clear()
    return best


# ------------------------------------------------------------------------------ rows


class Row:
    """Something to measure: ``call(i)`` returns ``i`` through a server whose CPU is ``pid``'s
    (``None``: the server is a thread of this process)."""

    def __init__(self, name: str, call: Callable[[int], Awaitable[Any]], pid: int | None) -> None:
        self.name, self.call, self.pid = name, call, pid
        self.cells: dict[int, list[Cell]] = {c: [] for c in CONCURRENCY}


async def wait_port(port_file: str, proc: Process) -> int:
    path = anyio.Path(port_file)
    with anyio.fail_after(30):
        while not await path.exists():
            if proc.returncode is not None:
                raise RuntimeError("floor server exited early")
            await anyio.sleep(0.02)
    return int(await path.read_text())


@contextlib.asynccontextmanager
async def floor_subprocess() -> AsyncIterator[tuple[str, int]]:
    """The floor server as a child process pinned to core 1: yields its URL and pid."""
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        proc = await anyio.open_process([sys.executable, __file__, "--floor-server", port_file],
                                        start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            os.sched_setaffinity(proc.pid, {1})
            port = await wait_port(port_file, proc)
            yield f"http://127.0.0.1:{port}/generate", proc.pid
        finally:
            proc.terminate()
            with anyio.move_on_after(10):
                await proc.wait()
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await proc.aclose()


def floor_call(session: Any, url: str) -> Callable[[int], Awaitable[Any]]:
    import _floor  # type: ignore[import-not-found,unused-ignore]

    async def call(i: int) -> Any:
        return (await _floor.aiohttp_json(session, url, {"args": [i], "kwargs": {}}, {}))["output"]

    return call


async def run_pairs(pairs: list[tuple[Row, Row]], rounds: int, seconds: float, warmup: float) -> None:
    """Every round: each concurrency, each pair measured back to back, the order alternating."""
    for r in range(rounds):
        for conc in CONCURRENCY:
            for floor, ours in pairs:
                for row in ((floor, ours) if r % 2 == 0 else (ours, floor)):
                    row.cells[conc].append(await measure(row.call, conc, seconds, warmup, row.pid))
        print(f"round {r + 1}/{rounds} done", file=sys.stderr)


async def measure_all(rounds: int, seconds: float, warmup: float) -> list[tuple[Row, Row]]:
    import _floor  # type: ignore[import-not-found,unused-ignore]

    from asyncllm._http import aclose_all
    from asyncllm.serving import ServerModule, UrlModule

    sub = ServerModule("serving:trivial", launcher="subprocess")
    inproc = ServerModule(trivial, launcher="inprocess")
    async with contextlib.AsyncExitStack() as stack:
        floor_url, floor_pid = await stack.enter_async_context(floor_subprocess())
        floor_inproc_url = stack.enter_context(floor_in_process())
        await sub.start()
        stack.push_async_callback(sub.stop)
        await inproc.start()
        stack.push_async_callback(inproc.stop)
        stack.push_async_callback(aclose_all)
        sub_pid = sub.launcher.pid  # type: ignore[attr-defined]
        os.sched_setaffinity(sub_pid, {1})
        session = await stack.enter_async_context(_floor.aiohttp_session(256))
        pairs = [
            (Row("floor subproc", floor_call(session, floor_url), floor_pid),
             Row("asyncllm subproc", UrlModule(url=sub.url), sub_pid)),
            (Row("floor in-proc", floor_call(session, floor_inproc_url), None),
             Row("asyncllm in-proc", inproc, None)),
        ]
        for _, row in pairs:  # open the connection pools before any window
            for i in range(8):
                await row.call(i)
        await run_pairs(pairs, rounds, seconds, warmup)
    return pairs


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


def _spread(values: list[float], fmt: str = ".2f") -> str:
    """``median [min-max]`` of per-round values (scaleout.py prints its rows with it too)."""
    return f"{statistics.median(values):{fmt}} [{min(values):{fmt}}-{max(values):{fmt}}]"


def report(pairs: list[tuple[Row, Row]], lazy: dict[int, dict[str, float]] | None) -> None:
    print(f"\n{'row':18} {'conc':>5} {'req/s':>7} {'client µs':>10} {'server µs':>10} {'total µs':>9}"
          f"  {'CPU × its floor: median [min-max of rounds]':>20}")
    med = statistics.median
    for floor, ours in pairs:
        for row in (floor, ours):
            for conc, cells in row.cells.items():
                line = (f"{row.name:18} {conc:>5} {med(c.rps for c in cells):>7.0f} "
                        f"{med(c.client_us for c in cells):>10.0f} {med(c.server_us for c in cells):>10.0f} "
                        f"{med(c.total_us for c in cells):>9.0f}")
                if row is ours:
                    pairs_ = zip(cells, floor.cells[conc], strict=True)
                    line += "  " + _spread([o.total_us / f.total_us for o, f in pairs_])
                print(line)
    (fsub, _), (fin, ours_in) = pairs
    print("\nagainst the subprocess floor (the in-process floor's ratio is the cost of client and server "
          "sharing one process):")
    for conc in CONCURRENCY:
        line = f"  conc {conc:>3}:"
        for row in (fin, ours_in):
            ratios = [i.total_us / s.total_us for i, s in zip(row.cells[conc], fsub.cells[conc], strict=True)]
            line += f"  {row.name} {_spread(ratios)}"
        print(line)
    if lazy is not None:
        print("\nlazyllm ServerModule + UrlModule (threads), against the subprocess floor's medians:")
        for conc, r in lazy.items():
            total = r["client_us"] + r["server_us"]
            ftotal = statistics.median(c.total_us for c in fsub.cells[conc])
            print(f"  conc {conc:>3}: {r['rps']:>6.0f} req/s, {r['client_us']:.0f} + {r['server_us']:.0f} µs, "
                  f"CPU × {total / ftotal:.2f}")
    print("\nCPU ×: client+server CPU per request relative to the floor of the same shape, per round "
          "(lower is better); the other columns are medians over the rounds.")


async def main(seconds: float, rounds: int, warmup: float, lazy_python: str | None) -> None:
    from asyncllm import ModuleBase
    from asyncllm.serving import create_app

    class Trivial(ModuleBase):
        """What is usually served: a module, whose ``async`` forward the app runs while it
        watches for the client going away (a disconnect cancels it); ``trivial`` is a plain
        function, which nothing can interrupt, so it is not watched."""

        async def forward(self, x: Any) -> Any:
            return x

    os.sched_setaffinity(0, {0})
    ours, ours_module = create_app(trivial), create_app(Trivial())
    for app in (ours, ours_module):
        app.guard.timed_body = False  # as under asyncllm's own servers (their connections keep it)
    floor_alone, ours_alone = await app_alone(floor_app()), await app_alone(ours)
    module_alone = await app_alone(ours_module)
    pairs = await measure_all(rounds, seconds, warmup)
    lazy = None
    if lazy_python is None:
        print("lazyllm is not importable here and no --lazyllm-python was given: skipping the LazyLLM row")
    else:
        lazy = await row_lazyllm(lazy_python, seconds)
    report(pairs, lazy)
    print(f"\nthe served app alone (ASGI calls, no server or sockets), CPU per request: {ours_alone:.1f} µs, "
          f"the bare app {floor_alone:.1f} µs ({ours_alone / floor_alone:.2f}x); an async module, watched for a "
          f"disconnect while it runs: {module_alone:.1f} µs ({module_alone / floor_alone:.2f}x)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=1.0, help="measured window per cell and round")
    parser.add_argument("--rounds", type=int, default=7, help="rounds (the table shows medians)")
    parser.add_argument("--warmup", type=float, default=0.3, help="load before each window opens")
    parser.add_argument("--lazyllm-python", default=os.environ.get("LAZYLLM_PYTHON"),
                        help="an interpreter with lazyllm installed (default: $LAZYLLM_PYTHON, or this one)")
    parser.add_argument("--floor-server", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor_server:
        floor_server(args.floor_server)
    else:
        anyio.run(main, args.seconds, args.rounds, args.warmup, lazyllm_python(args.lazyllm_python))
