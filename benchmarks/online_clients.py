"""Client CPU per request, requests/s and time to first chunk of the online clients
(``OnlineChatModule`` / ``OnlineEmbeddingModule``) next to raw aiohttp (the floor), raw
``httpx.AsyncClient``, the ``openai`` SDK and the bare ``asyncllm._http`` path, for
non-streamed chat, a 64-chunk streamed chat and 16-input embeddings at concurrency 1 / 32 / 256.

    .venv/bin/python benchmarks/online_clients.py [--quick] [--profile]

On trio (where aiohttp cannot run) a second table holds ``_http`` and the module to the same
floor shape built on anyio sockets (``_floor.AnyioFloor``: raw ``anyio.connect_tcp``,
hand-written request bytes, a minimal response / chunked / SSE parser).

The server is the lean OpenAI-shaped aiohttp.web app of ``http_transport.py`` in a subprocess
pinned to one core; the client runs pinned to the other (``os.sched_setaffinity``), so client
CPU (``time.process_time``) is not mixed with the server's. 127.0.0.1, keep-alive.
``--profile`` prints a cProfile of the module path (chat, concurrency 32) instead.

One more table goes through a local forwarding proxy (``tests/http/loopback_proxy.py`` in a
subprocess on the server's core): raw aiohttp with ``proxy=`` next to ``OnlineChatModule`` with
``proxy=``, chat and 64-chunk streams at concurrency 1 and 32, so the proxy path is held to the
same floor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import orjson

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _floor
import http_transport
from http_transport import measure

PROXY_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "http", "loopback_proxy.py")
KEY = "sk-bench"
HEADERS = {"authorization": "Bearer " + KEY}
CONNECT_TIMEOUT = 60.0  # 256 connections opening at once on a busy 2-core box can take seconds
TEXTS = [f"text {i}" for i in range(http_transport.N_INPUTS)]
Call = Callable[[], Awaitable[float]]  # one request; returns seconds to its first chunk


# ------------------------------------------------------------------------------ the clients


def aiohttp_calls(session: Any, base: str) -> dict[str, Call]:
    """The floor (see _floor.py): the lean raw-aiohttp client the module is held to."""
    chat_url, emb_url = f"{base}/v1/chat/completions", f"{base}/v1/embeddings"
    msgs = [{"role": "user", "content": "hello"}]

    async def chat() -> float:
        t0 = time.perf_counter()
        await _floor.aiohttp_json(session, chat_url, {"model": "m", "messages": msgs}, HEADERS)
        return time.perf_counter() - t0

    async def stream() -> float:
        body = {"model": "m", "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
        return float(await _floor.aiohttp_sse(session, chat_url, body, HEADERS, t0=time.perf_counter()))

    async def embed() -> float:
        t0 = time.perf_counter()
        await _floor.aiohttp_embed_b64(session, emb_url, {"model": "e", "input": TEXTS}, HEADERS)
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


def anyio_calls(floor: _floor.AnyioFloor) -> dict[str, Call]:
    """The trio floor (see _floor.py): the same lean client shape on raw anyio sockets."""
    msgs = [{"role": "user", "content": "hello"}]

    async def chat() -> float:
        t0 = time.perf_counter()
        await floor.json("/v1/chat/completions", {"model": "m", "messages": msgs})
        return time.perf_counter() - t0

    async def stream() -> float:
        body = {"model": "m", "messages": msgs, "stream": True, "stream_options": {"include_usage": True}}
        return float(await floor.sse("/v1/chat/completions", body, t0=time.perf_counter()))

    async def embed() -> float:
        t0 = time.perf_counter()
        await floor.embed_b64("/v1/embeddings", {"model": "e", "input": TEXTS})
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


def httpx_calls(client: Any, base: str) -> dict[str, Call]:
    chat_url, emb_url = f"{base}/v1/chat/completions", f"{base}/v1/embeddings"
    hdrs = {**_floor.JSON_HEADERS, **HEADERS}

    async def chat() -> float:
        t0 = time.perf_counter()
        await _floor.httpx_json(client, chat_url, {"model": "m", "messages": [{"role": "user", "content": "hello"}]},
                                HEADERS)
        return time.perf_counter() - t0

    async def stream() -> float:
        t0, first = time.perf_counter(), 0.0
        body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True})
        async with client.stream("POST", chat_url, content=body, headers=hdrs) as resp:
            async for line in resp.aiter_lines():
                if line.startswith("data: ") and line[6:].strip() != "[DONE]":
                    orjson.loads(line[6:])
                    first = first or time.perf_counter() - t0
        return first

    async def embed() -> float:
        t0 = time.perf_counter()
        await _floor.httpx_json(client, emb_url, {"model": "e", "input": TEXTS}, HEADERS)
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


def openai_calls(client: Any) -> dict[str, Call]:
    msgs = [{"role": "user", "content": "hello"}]

    async def chat() -> float:
        t0 = time.perf_counter()
        await client.chat.completions.create(model="m", messages=msgs)
        return time.perf_counter() - t0

    async def stream() -> float:
        t0, first = time.perf_counter(), 0.0
        async for _ in await client.chat.completions.create(model="m", messages=msgs, stream=True):
            first = first or time.perf_counter() - t0
        return first

    async def embed() -> float:
        t0 = time.perf_counter()
        await client.embeddings.create(model="e", input=TEXTS, encoding_format="float")
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


def bare_http_calls(base: str) -> dict[str, Call]:
    from asyncllm import _http

    chat_url, emb_url = f"{base}/v1/chat/completions", f"{base}/v1/embeddings"
    msgs = [{"role": "user", "content": "hello"}]
    s = _http.HTTPSettings(connect_timeout=CONNECT_TIMEOUT)

    async def chat() -> float:
        t0 = time.perf_counter()
        await _http.request_json("POST", chat_url, json={"model": "m", "messages": msgs}, headers=HEADERS,
                                 settings=s)
        return time.perf_counter() - t0

    async def stream() -> float:
        t0, first = time.perf_counter(), 0.0
        async with _http.stream_sse("POST", chat_url, json={"model": "m", "messages": msgs, "stream": True},
                                    headers=HEADERS, settings=s) as events:
            async for ev in events:
                if not ev.is_done:
                    ev.json()
                    first = first or time.perf_counter() - t0
        return first

    async def embed() -> float:
        t0 = time.perf_counter()
        await _http.request_json("POST", emb_url, json={"model": "e", "input": TEXTS}, headers=HEADERS,
                                 settings=s)
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


def proxied_aiohttp_calls(session: Any, base: str, proxy: str) -> dict[str, Call]:
    chat_url = f"{base}/v1/chat/completions"
    hdrs = {**_floor.JSON_HEADERS, **HEADERS}

    async def chat() -> float:
        t0 = time.perf_counter()
        body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}]})
        async with session.post(chat_url, data=body, headers=hdrs, proxy=proxy) as resp:
            orjson.loads(await resp.read())
        return time.perf_counter() - t0

    async def stream() -> float:
        t0, first = time.perf_counter(), 0.0
        body = orjson.dumps({"model": "m", "messages": [{"role": "user", "content": "hello"}], "stream": True})
        async with session.post(chat_url, data=body, headers=hdrs, proxy=proxy) as resp:
            async for line in resp.content:
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    orjson.loads(line[6:])
                    first = first or time.perf_counter() - t0
        return first

    return {"chat": chat, "stream64": stream}


def module_calls(base: str, proxy: str | None = "env") -> dict[str, Call]:
    from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

    ct = CONNECT_TIMEOUT
    chat_m = OnlineChatModule(base_url=f"{base}/v1/", model="m", api_key=KEY, stream=False, connect_timeout=ct,
                              proxy=proxy)
    stream_m = OnlineChatModule(base_url=f"{base}/v1/", model="m", api_key=KEY, stream=True, connect_timeout=ct,
                                proxy=proxy)
    emb_m = OnlineEmbeddingModule(embed_url=f"{base}/v1/embeddings", embed_model_name="e", api_key=KEY,
                                  batch_size=len(TEXTS), connect_timeout=ct, proxy=proxy)

    async def chat() -> float:
        t0 = time.perf_counter()
        await chat_m("hello")
        return time.perf_counter() - t0

    async def stream() -> float:
        t0, first = time.perf_counter(), 0.0
        async for _ in stream_m.stream("hello"):
            first = first or time.perf_counter() - t0
        return first

    async def embed() -> float:
        t0 = time.perf_counter()
        await emb_m(TEXTS)
        return time.perf_counter() - t0

    return {"chat": chat, "stream64": stream, "embed16": embed}


async def make_clients(which: list[str], base: str, proxy: str | None = None,
                       ) -> tuple[dict[str, dict[str, Call]], list[Callable[[], Awaitable[Any]]]]:
    from asyncllm import _http

    calls: dict[str, dict[str, Call]] = {}
    closers: list[Callable[[], Awaitable[Any]]] = [_http.aclose_all]
    for w in which:
        if w == "aiohttp+proxy":
            assert proxy is not None
            session = _floor.aiohttp_session()
            closers.append(session.close)
            calls[w] = proxied_aiohttp_calls(session, base, proxy)
        elif w == "module+proxy":
            calls[w] = module_calls(base, proxy)
        elif w == "anyio":
            host, port = base.removeprefix("http://").rsplit(":", 1)
            floor = _floor.AnyioFloor(host, int(port), HEADERS)
            closers.append(floor.aclose)
            calls[w] = anyio_calls(floor)
        elif w == "aiohttp":
            session = _floor.aiohttp_session()
            closers.append(session.close)
            calls[w] = aiohttp_calls(session, base)
        elif w == "httpx":
            client = _floor.httpx_client()
            closers.append(client.aclose)
            calls[w] = httpx_calls(client, base)
        elif w == "openai":
            import openai

            # the SDK's 5 s connect timeout trips when 256 connections open at once on a busy box
            sdk = openai.AsyncOpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=120.0)
            closers.append(sdk.close)
            calls[w] = openai_calls(sdk)
        elif w == "_http":
            calls[w] = bare_http_calls(base)
        else:
            calls[w] = module_calls(base)
    return calls, closers


async def run_all(which: list[str], base: str, concs: list[int], sizes: dict[str, int], budget: float,
                  repeat: int, proxy: str | None = None) -> dict[str, dict[tuple[str, int], Any]]:
    """Every client on one cell before the next cell, ``repeat`` rounds, best (least CPU) kept:
    clients measured back to back see the same machine load, so their ratios are fair."""
    calls, closers = await make_clients(which, base, proxy)
    out: dict[str, dict[tuple[str, int], Any]] = {w: {} for w in which}
    try:
        for wl in sizes:
            for conc in concs:
                n = sizes[wl] // (4 if conc == 1 else 1)
                for _ in range(repeat):
                    for w in which:
                        r = await measure(calls[w][wl], n, conc, budget)
                        best = out[w].get((wl, conc))
                        if best is None or r[0] < best[0]:
                            out[w][(wl, conc)] = r
    finally:
        for close in closers:
            await close()
    return out


async def profile(base: str) -> None:
    import cProfile
    import pstats

    from asyncllm import _http

    calls = module_calls(base)
    await measure(calls["chat"], 300, 32, 5)
    prof = cProfile.Profile()
    prof.enable()
    await measure(calls["chat"], 3000, 32, 20)
    prof.disable()
    await _http.aclose_all()
    pstats.Stats(prof).sort_stats("tottime").print_stats(30)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer requests (smoke run)")
    ap.add_argument("--profile", action="store_true", help="cProfile the module chat path")
    ap.add_argument("--repeat", type=int, default=2, help="rounds per cell (the least CPU is kept)")
    args = ap.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    server_cores = {cores[-1]}
    proc = subprocess.Popen([sys.executable, http_transport.__file__, "--serve"], stdout=subprocess.PIPE,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: os.sched_setaffinity(0, server_cores))
    # The proxy of the proxy table, on the server's core too: its CPU is not the client's.
    proxy_proc = subprocess.Popen([sys.executable, PROXY_SCRIPT], stdout=subprocess.PIPE, text=True,
                                  start_new_session=True, preexec_fn=lambda: os.sched_setaffinity(0, server_cores))
    try:
        assert proc.stdout is not None and proxy_proc.stdout is not None
        port = int(proc.stdout.readline())
        if len(cores) > 1:
            os.sched_setaffinity(0, {cores[0]})
        base = f"http://127.0.0.1:{port}"
        if args.profile:
            anyio.run(profile, base)
            return
        scale = 0.2 if args.quick else 1.0
        sizes = {k: int(v * scale) for k, v in {"chat": 3000, "stream64": 800, "embed16": 1000}.items()}
        concs = [1, 32, 256]
        budget = 0.5 if args.quick else 2.0
        clients = ["aiohttp", "httpx", "openai", "_http", "module"]
        try:
            import openai  # noqa: F401
        except ImportError:
            clients.remove("openai")
            print("(openai SDK not installed: .venv/bin/pip install openai)")
        rows = anyio.run(run_all, clients, base, concs, sizes, budget, args.repeat)
        print(f"client CPU µs/request, requests/s, median ms to first chunk; xN = CPU vs raw aiohttp. "
              f"server pinned to core {sorted(server_cores)}, client to core {cores[0]}")
        table(rows, "aiohttp", list(sizes), concs)
        # trio: aiohttp cannot run there, so the floor is the same lean shape on anyio sockets.
        trio_rows = anyio.run(run_all, ["anyio", "_http", "module"], base, concs, sizes, budget, args.repeat,
                              backend="trio")
        print("\non trio; xN = CPU vs the raw anyio-socket floor (_floor.AnyioFloor):")
        table(trio_rows, "anyio", list(sizes), concs)
        proxy_url = f"http://127.0.0.1:{int(proxy_proc.stdout.readline())}"
        proxied = {k: v for k, v in sizes.items() if k != "embed16"}
        prows = anyio.run(run_all, ["aiohttp+proxy", "module+proxy"], base, [1, 32], proxied, budget, args.repeat,
                          proxy_url)
        print("\nthrough a local forwarding proxy (both clients go through the same one):")
        table(prows, "aiohttp+proxy", list(proxied), [1, 32])
    finally:
        for p in (proc, proxy_proc):
            os.killpg(p.pid, 15)
            p.wait(5)


def table(rows: dict[str, dict[tuple[str, int], Any]], floor_name: str, workloads: list[str],
          concs: list[int]) -> None:
    width = 30
    print(f"{'workload':9} {'conc':>4} | " + " | ".join(f"{w:>{width}}" for w in rows))
    for wl in workloads:
        for conc in concs:
            floor = rows[floor_name][(wl, conc)][0]
            cells = []
            for w in rows:
                r = rows[w].get((wl, conc))
                cells.append(f"{r[0]:6.0f}us {r[1]:5.0f}/s {r[2]:6.1f}ms x{r[0] / floor:4.2f}" if r
                             else " " * width)
            print(f"{wl:9} {conc:>4} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
