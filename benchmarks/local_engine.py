"""Local engine through ``TrainableModule`` vs the same llama.cpp server called with raw httpx.

    .venv/bin/python benchmarks/local_engine.py [--rounds 4] [--max-tokens 64]

One ``llama_cpp.server`` on SmolLM2-135M-Instruct is started by ``TrainableModule`` (the
embedded default); both clients then stream the same chat (temperature 0, fixed max_tokens)
from it, alternating A/B each round so machine noise hits both alike. Per request: time to
the first token (TTFT) and tokens/s after it (llama.cpp sends one token per SSE chunk), plus
the non-streamed latency. The floor is a bare ``httpx.AsyncClient`` POST + SSE line parsing;
ratios are TrainableModule / raw (TTFT, latency: lower is better; tokens/s: higher is better).
The model's own speed dominates, so a ratio near 1.0 means the module adds nothing visible.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import anyio
import httpx
import orjson

from asyncllm._http import aclose_all
from asyncllm.trainable import TrainableModule

PROMPT = "Write a short paragraph about the sea."


async def raw_stream(client: httpx.AsyncClient, url: str, model: str, max_tokens: int) -> tuple[float, float, int]:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "max_tokens": max_tokens, "temperature": 0}
    t0 = time.perf_counter()
    first = 0.0
    n = 0
    async with client.stream("POST", url + "chat/completions", json=body) as resp:
        resp.raise_for_status()
        async for line in resp.aiter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            delta = orjson.loads(line[6:])["choices"][0]["delta"]
            if delta.get("content"):
                n += 1
                if n == 1:
                    first = time.perf_counter() - t0
    return first, time.perf_counter() - t0, n


async def module_stream(m: TrainableModule, max_tokens: int) -> tuple[float, float, int]:
    t0 = time.perf_counter()
    first = 0.0
    n = 0
    async with m.stream(PROMPT, max_tokens=max_tokens, temperature=0) as s:
        async for _ in s:
            n += 1
            if n == 1:
                first = time.perf_counter() - t0
    return first, time.perf_counter() - t0, n


async def raw_call(client: httpx.AsyncClient, url: str, model: str, max_tokens: int) -> float:
    body = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max_tokens,
            "temperature": 0}
    t0 = time.perf_counter()
    resp = await client.post(url + "chat/completions", json=body)
    resp.raise_for_status()
    resp.json()
    return time.perf_counter() - t0


async def module_call(m: TrainableModule, max_tokens: int, stream: bool | None = None) -> float:
    """A plain ``await m(x)``: by default it streams from the engine (so a cancel stops the
    engine); ``stream=False`` asks the engine for one answer."""
    t0 = time.perf_counter()
    await m(PROMPT, max_tokens=max_tokens, temperature=0, stream=stream)
    return time.perf_counter() - t0


def tps(row: tuple[float, float, int]) -> float:
    first, total, n = row
    return (n - 1) / (total - first) if n > 1 and total > first else 0.0


async def main(args: argparse.Namespace) -> None:
    m = TrainableModule("SmolLM2-135M-Instruct")
    t0 = time.perf_counter()
    await m.start()
    ready = time.perf_counter() - t0
    try:
        url, model = m.url, m.engine.served_name  # type: ignore[union-attr]
        assert url is not None
        rows: dict[str, list[Any]] = {"raw_s": [], "mod_s": [], "raw_c": [], "mod_c": [], "mod_await": []}
        async with httpx.AsyncClient(timeout=300, trust_env=False) as client:
            await raw_stream(client, url, model, 4)  # warm both paths (model pages, pools)
            await module_stream(m, 4)
            for r in range(args.rounds):
                order = ["raw", "mod"] if r % 2 == 0 else ["mod", "raw"]
                for who in order:
                    if who == "raw":
                        rows["raw_s"].append(await raw_stream(client, url, model, args.max_tokens))
                        rows["raw_c"].append(await raw_call(client, url, model, args.max_tokens))
                    else:
                        rows["mod_s"].append(await module_stream(m, args.max_tokens))
                        rows["mod_c"].append(await module_call(m, args.max_tokens, stream=False))
                        rows["mod_await"].append(await module_call(m, args.max_tokens))
    finally:
        await m.stop()
        await aclose_all()

    med = statistics.median

    def line(name: str, raw: float, mod: float, unit: str, higher_better: bool) -> str:
        ratio = mod / raw if raw else float("nan")
        better = "higher" if higher_better else "lower"
        return f"| {name} | {raw:.3f} {unit} | {mod:.3f} {unit} | {ratio:.2f} ({better} is better) |"

    n_tok = med([r[2] for r in rows["raw_s"]])
    print(f"llama.cpp SmolLM2-135M-Instruct Q4_1, {os.cpu_count()} cores, {args.rounds} rounds A/B, "
          f"max_tokens={args.max_tokens} (median {n_tok:.0f} tokens streamed); engine ready in {ready:.2f} s "
          f"(TrainableModule.start, incl. process spawn)")
    print("| metric (median) | raw httpx | TrainableModule | ratio module/raw |")
    print("|---|---|---|---|")
    print(line("time to first token", med([r[0] for r in rows["raw_s"]]), med([r[0] for r in rows["mod_s"]]),
               "s", False))
    print(line("stream tokens/s after first", med([tps(r) for r in rows["raw_s"]]),
               med([tps(r) for r in rows["mod_s"]]), "tok/s", True))
    print(line("non-streamed latency (stream=False)", med(rows["raw_c"]), med(rows["mod_c"]), "s", False))
    # A plain await streams from the engine (cancellable); its floor is the raw stream read whole.
    print(line("plain await (streamed) vs raw stream", med([r[1] for r in rows["raw_s"]]),
               med(rows["mod_await"]), "s", False))
    print(line("plain await (streamed) vs raw non-streamed", med(rows["raw_c"]), med(rows["mod_await"]), "s",
               False))
    print(f"load average during the run: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--max-tokens", type=int, default=64)
    anyio.run(main, p.parse_args())
