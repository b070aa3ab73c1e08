"""Client memory with many calls in flight: RSS growth of 10,000 concurrent chat calls.

A lean aiohttp server in a subprocess holds every chat request for a few seconds before it
answers, so all the calls are in flight at once: a pool's worth on connections, the rest
waiting for one. Each client runs in a fresh subprocess of its own; what it reports is its
peak resident memory (sampled every 10 ms from /proc/self/statm) minus its resident memory
after one warm-up call, divided by the number of calls.

The floor is raw aiohttp with the same connection limit as asyncllm's default pool
(``HTTPSettings.max_connections``), orjson bodies and nothing else; asyncllm is measured
through ``_http.request_json`` and through ``OnlineChatModule`` (a plain ``await``, so the
module streams from the server as it does by default). Every call runs in a task of its own
with no session bound, as a server's requests do.

Run: ``python benchmarks/inflight_memory.py`` (``--calls N``, default 10000).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from typing import Any

import anyio
import orjson

HOLD = 1.0  # seconds the server keeps every chat request before answering
#: generous deadlines: a call waits in the pool's queue for its turn (calls / pool size x HOLD)
WAIT = 600.0
PAGE = os.sysconf("SC_PAGE_SIZE")
CHAT = orjson.dumps({"id": "c", "object": "chat.completion", "created": 0, "model": "m",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}})


def serve() -> None:
    import asyncio

    from aiohttp import web

    async def chat(request: web.Request) -> web.StreamResponse:
        body = orjson.loads(await request.read())
        if body.get("warm") is None:
            await asyncio.sleep(HOLD)
        if not body.get("stream"):
            return web.Response(body=CHAT, content_type="application/json")
        resp = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await resp.prepare(request)
        frame = {"id": "c", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "ok"}, "finish_reason": "stop"}]}
        await resp.write(b"data: " + orjson.dumps(frame) + b"\n\ndata: [DONE]\n\n")
        await resp.write_eof()
        return resp

    async def main() -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", chat)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        print(site._server.sockets[0].getsockname()[1], flush=True)  # type: ignore[union-attr]
        await asyncio.Event().wait()

    asyncio.run(main())


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def client(which: str, base: str, calls: int) -> None:
    """One client in this process; prints ``peak growth in bytes`` and the calls that succeeded."""
    from asyncllm._http import DEFAULT_SETTINGS, HTTPSettings, aclose_all, request_json

    settings = HTTPSettings(first_chunk_timeout=WAIT, idle_timeout=WAIT, total_timeout=WAIT)

    url = f"{base}/v1/chat/completions"
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, rss())
            time.sleep(0.01)

    async def main() -> int:
        nonlocal peak
        if which == "aiohttp":
            import aiohttp

            session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=DEFAULT_SETTINGS.max_connections),
                                            cookie_jar=aiohttp.DummyCookieJar())

            async def call(warm: bool = False) -> Any:
                data = orjson.dumps({**body, "warm": 1} if warm else body)
                async with session.post(url, data=data, headers={"content-type": "application/json"}) as resp:
                    return orjson.loads(await resp.read())
        elif which == "_http":
            async def call(warm: bool = False) -> Any:
                return (await request_json("POST", url, json={**body, "warm": 1} if warm else body,
                                            settings=settings))[0]
        else:
            import asyncllm as al

            chat = al.OnlineChatModule(source="openai_compatible", base_url=f"{base}/v1", model="m",
                                       system_prompt="", timeout=WAIT, first_chunk_timeout=WAIT,
                                       idle_timeout=WAIT)

            async def call(warm: bool = False) -> Any:
                return await (chat("hi", warm=1) if warm else chat("hi"))
        ok = 0
        try:
            # Warmed up in a task of its own: every call then starts, like a server's request,
            # with no session bound (one made here would be shared by all 10,000 calls).
            async with anyio.create_task_group() as warm:
                warm.start_soon(call, True)
            base_rss = rss()
            peak = base_rss
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()

            async def one() -> None:
                nonlocal ok
                await call()
                ok += 1

            async with anyio.create_task_group() as tg:
                for _ in range(calls):
                    tg.start_soon(one)
            done.set()
            sampler.join()
        finally:
            if which == "aiohttp":
                await session.close()
            await aclose_all()
        print(peak - base_rss, ok, flush=True)
        return ok

    anyio.run(main)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--client", help=argparse.SUPPRESS)
    ap.add_argument("--base", help=argparse.SUPPRESS)
    ap.add_argument("--calls", type=int, default=10_000)
    args = ap.parse_args()
    if args.serve:
        serve()
        return
    if args.client:
        client(args.client, args.base, args.calls)
        return
    server = subprocess.Popen([sys.executable, __file__, "--serve"], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        base = f"http://127.0.0.1:{int(server.stdout.readline())}"
        results = {}
        for which in ("aiohttp", "_http", "module"):
            out = subprocess.run([sys.executable, __file__, "--client", which, "--base", base, "--calls",
                                  str(args.calls)], capture_output=True, text=True, timeout=600)
            if out.returncode != 0:
                raise SystemExit(f"{which} client failed:\n{out.stderr[-2000:]}")
            grown, ok = (int(v) for v in out.stdout.split())
            results[which] = (grown, ok)
        floor = results["aiohttp"][0] or 1
        print(f"{args.calls} concurrent chat calls, each held {HOLD:.0f} s by the server; peak client RSS growth")
        print(f"{'client':10} {'calls ok':>9} {'MB':>8} {'KB/call':>8} {'x floor':>8}")
        for which, (grown, ok) in results.items():
            print(f"{which:10} {ok:>9} {grown / 2**20:>8.1f} {grown / 1024 / args.calls:>8.1f} "
                  f"{grown / floor:>8.2f}")
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main()
