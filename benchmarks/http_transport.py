"""Client CPU per request and requests/s of ``asyncllm._http`` against raw aiohttp (the floor)
and raw ``httpx.AsyncClient``, for non-streamed chat, a 64-chunk SSE stream and 16-input
embeddings, at concurrency 1 / 32 / 256.

    .venv/bin/python benchmarks/http_transport.py [--quick]

A lean OpenAI-shaped aiohttp.web server runs in a subprocess pinned to one core, the client
to another (``os.sched_setaffinity``), so client CPU (``time.process_time``) is not mixed with
the server's. Everything goes over 127.0.0.1 with keep-alive.
"""

from __future__ import annotations

import argparse
import base64
import math
import os
import statistics
import subprocess
import sys
import time
from array import array
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any

import anyio
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _floor  # type: ignore[import-not-found,unused-ignore]

N_CHUNKS, N_INPUTS, DIM = 64, 16, 1024
CHAT = orjson.dumps({"id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "m",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "word " * 40},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 40, "total_tokens": 50}})
_CHUNK = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "m",
          "choices": [{"index": 0, "delta": {"content": "tok "}, "finish_reason": None}]}
FRAME = b"data: " + orjson.dumps(_CHUNK) + b"\n\n"
USAGE_FRAME = b"data: " + orjson.dumps({**_CHUNK, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 64,
                                                                           "total_tokens": 74}}) + b"\n\n"
EMB = orjson.dumps({"object": "list", "model": "e", "usage": {"prompt_tokens": 16, "total_tokens": 16},
                    "data": [{"object": "embedding", "index": i, "embedding": [((i * 7 + j) % 1000) / 1000.0 - 0.5
                                                                              for j in range(DIM)]}
                             for i in range(N_INPUTS)]})
# The same vectors as base64 float32 (what ``encoding_format: base64`` asks for).
_EMB = orjson.loads(EMB)
EMB_B64 = orjson.dumps({**_EMB, "data": [
    {**d, "embedding": base64.b64encode(array("f", d["embedding"]).tobytes()).decode()} for d in _EMB["data"]]})


# ------------------------------------------------------------------------------ server (subprocess)


def serve() -> None:
    import asyncio

    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if not body.get("stream"):
            return web.Response(body=CHAT, content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        for _ in range(N_CHUNKS):
            await resp.write(FRAME)
        if (body.get("stream_options") or {}).get("include_usage"):
            await resp.write(USAGE_FRAME)
        await resp.write(b"data: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def embeddings(request: web.Request) -> web.Response:
        body = orjson.loads(await request.read())
        return web.Response(body=EMB_B64 if body.get("encoding_format") == "base64" else EMB,
                            content_type="application/json")

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        app.router.add_post("/v1/embeddings", embeddings)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        print(port, flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())


# ------------------------------------------------------------------------------ client


Call = Callable[[], Coroutine[Any, Any, Any]]


async def measure(call: Call, n: int, conc: int, budget: float) -> tuple[float, float, float]:
    """(client CPU µs per request, requests/s, median ms to first chunk): up to ``n`` calls,
    ``conc`` at a time, stopping early once ``budget`` seconds have passed (slow clients would
    otherwise dominate the run). A call that returns its seconds to first chunk feeds the
    median; one that returns anything else leaves it NaN."""
    async with anyio.create_task_group() as tg:  # warm the pool: open `conc` connections
        for _ in range(min(conc, 64)):
            tg.start_soon(call)
    left, done = n, 0
    ttfc: list[float] = []
    stop_at = time.perf_counter() + budget

    async def worker() -> None:
        nonlocal left, done
        while left > 0 and time.perf_counter() < stop_at:
            left -= 1
            first = await call()
            if isinstance(first, float):
                ttfc.append(first)
            done += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(conc):
            tg.start_soon(worker)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    return cpu / done * 1e6, done / wall, statistics.median(ttfc) * 1e3 if ttfc else math.nan


def workloads(base: str) -> dict[str, tuple[str, Any, bool]]:
    msgs = [{"role": "user", "content": "hello"}]
    return {
        "chat": (f"{base}/v1/chat/completions", {"model": "m", "messages": msgs}, False),
        "stream64": (f"{base}/v1/chat/completions", {"model": "m", "messages": msgs, "stream": True}, True),
        "embed16": (f"{base}/v1/embeddings", {"model": "e", "input": [f"text {i}" for i in range(N_INPUTS)]}, False),
    }


async def ours_sse(url: str, body: Any, headers: dict[str, str]) -> int:
    from asyncllm import _http

    n = 0
    async with _http.stream_sse("POST", url, json=body, headers=headers) as events:
        async for ev in events:
            if not ev.is_done:
                ev.json()
                n += 1
    return n


async def run_client(which: str, base: str, concs: list[int], sizes: dict[str, int],
                     budget: float) -> dict[tuple[str, int], Any]:
    from asyncllm import _http

    headers = {"authorization": "Bearer sk-bench"}
    out: dict[tuple[str, int], Any] = {}
    session = _floor.aiohttp_session() if which == "aiohttp" else None
    client = _floor.httpx_client() if which == "httpx" else None
    try:
        for wl, (url, body, stream) in workloads(base).items():
            for conc in concs:
                call: Call
                if which == "aiohttp":
                    assert session is not None
                    fn: Any = _floor.aiohttp_sse if stream else _floor.aiohttp_json
                    call = partial(fn, session, url, body, headers)
                elif which == "httpx":
                    assert client is not None
                    fn = _floor.httpx_sse if stream else _floor.httpx_json
                    call = partial(fn, client, url, body, headers)
                elif stream:
                    call = partial(ours_sse, url, body, headers)
                else:
                    call = partial(_http.request_json, "POST", url, json=body, headers=headers)
                n = sizes[wl] // (4 if conc == 1 else 1)
                out[(wl, conc)] = await measure(call, n, conc, budget)
    finally:
        if session is not None:
            await session.close()
        if client is not None:
            await client.aclose()
        await _http.aclose_all()
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    cores = sorted(os.sched_getaffinity(0))
    server_cores = {cores[-1]}
    proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, server_cores))
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        if len(cores) > 1:
            os.sched_setaffinity(0, {cores[0]})
        base = f"http://127.0.0.1:{port}"
        scale = 0.2 if args.quick else 1.0
        sizes = {k: int(v * scale) for k, v in {"chat": 3000, "stream64": 800, "embed16": 1000}.items()}
        concs = [1, 32, 256]
        rows: dict[str, dict[tuple[str, int], Any]] = {}
        budget = 0.5 if args.quick else 2.0
        for which in ("aiohttp", "httpx", "asyncllm"):
            rows[which] = anyio.run(run_client, which, base, concs, sizes, budget)
        rows["asyncllm/trio"] = anyio.run(run_client, "asyncllm", base, [32], sizes, budget, backend="trio")
        print(f"client CPU µs/request (requests/s); ratio = CPU vs raw aiohttp. server pinned to core "
              f"{sorted(server_cores)}, client to core {cores[0]}")
        print(f"{'workload':9} {'conc':>4} | " + " | ".join(f"{w:>24}" for w in rows))
        for wl in sizes:
            for conc in concs:
                floor = rows["aiohttp"][(wl, conc)][0]
                cells = []
                for w in rows:
                    r = rows[w].get((wl, conc))
                    cells.append(f"{r[0]:7.0f} ({r[1]:6.0f}/s) x{r[0] / floor:4.2f}" if r else " " * 24)
                print(f"{wl:9} {conc:>4} | " + " | ".join(cells))
    finally:
        proc.terminate()
        proc.wait(5)


if __name__ == "__main__":
    main()
