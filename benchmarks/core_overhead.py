"""Per-call overhead of the core: ``await m(x)``, a 10-step pipeline and a 1,000-branch parallel.

Every number is printed next to a floor measured in the same run, on the same backend:
a bare coroutine awaited directly (``await f(x)``), and for the parallel case also a raw anyio
task group running the same 1,000 coroutines. When LazyLLM is installed (here or in the
interpreter named by ``LAZYLLM_PYTHON``, default ``/work/lazyllm-venv/bin/python``), the same
workloads run through LazyLLM in a subprocess, against its own floor (a bare function call).

Times are CPU time of this process (``time.process_time``), not wall time: on a shared machine
other jobs' load stretches wall time by whatever the scheduler gives them, which swamped the
ratios (a bare await read 0.1–1 µs from one run to the next). A thread-pool parallel (LazyLLM's)
is charged for every thread's CPU, as it should be.

Run: ``python benchmarks/core_overhead.py`` (``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

REPEATS = 7
CLOCK = time.process_time


Samples = dict[str, list[float]]


def med(samples: Samples, name: str) -> float:
    return statistics.median(samples[name])


def ratio(samples: Samples, name: str, floor: str) -> float:
    """Median of the per-repeat ratios (each repeat timed both back to back)."""
    return statistics.median(a / b for a, b in zip(samples[name], samples[floor], strict=True))


# -- asyncllm ---------------------------------------------------------------------------------


async def measure_asyncllm(repeats: int) -> dict[str, list[float]]:
    import anyio

    import asyncllm as al

    class AddOne(al.ModuleBase):
        async def forward(self, x: int) -> int:
            return x + 1

    async def bare(x: int) -> int:
        return x + 1

    m = AddOne()
    pipe = al.pipeline(*[AddOne() for _ in range(10)])
    par = al.parallel(*[bare] * 1000)

    async def timed(fn: Callable[[], Awaitable[Any]], n: int) -> float:
        t0 = CLOCK()
        for _ in range(n):
            await fn()
        return CLOCK() - t0

    async def raw_task_group() -> None:
        async with anyio.create_task_group() as tg:
            for _ in range(1000):
                tg.start_soon(bare, 1)

    async def bare10() -> int:
        x = 0
        for _ in range(10):
            x = await bare(x)
        return x

    async def bare1000() -> None:
        for _ in range(1000):
            await bare(1)

    cases: dict[str, tuple[Callable[[], Awaitable[Any]], int]] = {
        "bare await": (lambda: bare(1), 20000),
        "await m(x)": (lambda: m(1), 20000),
        "10 bare awaits": (bare10, 4000),
        "pipeline of 10 modules": (lambda: pipe(0), 2000),
        "1000 bare awaits": (bare1000, 40),
        "raw task group x1000": (raw_task_group, 20),
        "parallel of 1000": (lambda: par(1), 20),
    }
    for fn, n in cases.values():
        await timed(fn, max(1, n // 10))  # warm up
    # Repeats outermost: each repeat measures every workload and its floor back to back, so a
    # ratio compares two numbers taken under the same machine load.
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (fn, n) in cases.items():
            out[name].append(await timed(fn, n) / n)
    # With al.instrument() on (an SDK tracer provider that makes every span and exports none):
    # what tracing costs per module call. Off, the call path is the plain one measured above.
    try:
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        return out
    al.instrument(tracer_provider=TracerProvider())
    try:
        traced = {"await m(x) traced": (lambda: m(1), 4000), "pipeline of 10 traced": (lambda: pipe(0), 400)}
        for fn, n in traced.values():
            await timed(fn, max(1, n // 10))
        for name in traced:
            out[name] = []
        for _ in range(repeats):
            for name, (fn, n) in traced.items():
                out[name].append(await timed(fn, n) / n)
    finally:
        al.instrument(False)
    return out


# -- LazyLLM (sync; runs in its own interpreter) ----------------------------------------------


def measure_lazyllm(repeats: int) -> dict[str, list[float]]:
    import logging

    os.environ.setdefault("LAZYLLM_LOG_LEVEL", "ERROR")
    import lazyllm

    logging.disable(logging.CRITICAL)

    class AddOne(lazyllm.ModuleBase):
        def forward(self, x: int) -> int:
            return x + 1

    def bare(x: int) -> int:
        return x + 1

    m = AddOne()
    pipe = lazyllm.pipeline(*[AddOne() for _ in range(10)])
    par = lazyllm.parallel(*[bare] * 1000)

    def timed(fn: Callable[[], Any], n: int) -> float:
        t0 = CLOCK()
        for _ in range(n):
            fn()
        return CLOCK() - t0

    def bare10() -> int:
        x = 0
        for _ in range(10):
            x = bare(x)
        return x

    def bare1000() -> None:
        for _ in range(1000):
            bare(1)

    cases: dict[str, tuple[Callable[[], Any], int]] = {
        "bare call": (lambda: bare(1), 20000),
        "m(x)": (lambda: m(1), 2000),
        "10 bare calls": (bare10, 4000),
        "pipeline of 10 modules": (lambda: pipe(0), 200),
        "1000 bare calls": (bare1000, 40),
        "parallel of 1000": (lambda: par(1), 3),
    }
    for fn, n in cases.values():
        timed(fn, max(1, n // 10))
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(repeats):
        for name, (fn, n) in cases.items():
            out[name].append(timed(fn, n) / n)
    return out


def lazyllm_python() -> str | None:
    try:
        import lazyllm  # noqa: F401

        return sys.executable
    except ImportError:
        pass
    candidate = os.environ.get("LAZYLLM_PYTHON", "/work/lazyllm-venv/bin/python")
    return candidate if Path(candidate).exists() else None


def run_lazyllm_subprocess(python: str, repeats: int) -> dict[str, list[float]] | str:
    try:
        proc = subprocess.run(
            [python, __file__, "--lazyllm-worker", "--repeats", str(repeats)],
            capture_output=True, text=True, timeout=600,
        )
    except subprocess.TimeoutExpired:
        return "LazyLLM run timed out after 600 s"
    if proc.returncode != 0:
        return f"LazyLLM run failed (exit {proc.returncode}): {proc.stderr.strip().splitlines()[-1:]}"
    return {k: list(v) for k, v in json.loads(proc.stdout.strip().splitlines()[-1]).items()}


# -- report -----------------------------------------------------------------------------------


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:10.2f} µs"


def row(samples: Samples, name: str, floor: str) -> str:
    return f"  {name:<26}{fmt_us(med(samples, name))}   x{ratio(samples, name, floor):8.2f} of {floor}"


def report_asyncllm(backend: str, r: Samples) -> None:
    print(f"\nasyncllm on {backend}")
    for name, floor in [("await m(x)", "bare await"), ("pipeline of 10 modules", "10 bare awaits"),
                        ("parallel of 1000", "1000 bare awaits"), ("parallel of 1000", "raw task group x1000"),
                        ("raw task group x1000", "1000 bare awaits")]:
        print(row(r, name, floor))
    print(f"  floors: bare await {fmt_us(med(r, 'bare await')).strip()}, 10 bare awaits "
          f"{fmt_us(med(r, '10 bare awaits')).strip()}, 1000 bare awaits {fmt_us(med(r, '1000 bare awaits')).strip()}")
    if "await m(x) traced" in r:
        print(row(r, "await m(x) traced", "await m(x)"))
        print(row(r, "pipeline of 10 traced", "pipeline of 10 modules"))
        per_call = med(r, "await m(x) traced") - med(r, "await m(x)")
        print(f"  tracing on (al.instrument(), spans made, none exported): {per_call * 1e6:.2f} µs more "
              "per module call")


def report_lazyllm(r: Samples) -> None:
    print("\nLazyLLM (sync modules, thread-pool parallel)")
    for name, floor in [("m(x)", "bare call"), ("pipeline of 10 modules", "10 bare calls"),
                        ("parallel of 1000", "1000 bare calls")]:
        print(row(r, name, floor))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=REPEATS)
    parser.add_argument("--quick", action="store_true", help="3 repeats")
    parser.add_argument("--lazyllm-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    repeats = 3 if args.quick else args.repeats
    if args.lazyllm_worker:
        print(json.dumps(measure_lazyllm(repeats)))
        return

    import anyio

    results = {b: anyio.run(measure_asyncllm, repeats, backend=b) for b in ("asyncio", "trio")}
    print(f"core overhead, median of {repeats} repeats (python {sys.version.split()[0]}); "
          "ratios are medians of per-repeat ratios", flush=True)
    for backend, r in results.items():
        report_asyncllm(backend, r)

    python = lazyllm_python()
    if python is None:
        print("\nLazyLLM: not installed; skipped (pip install lazyllm, or set LAZYLLM_PYTHON to an "
              "interpreter that has it)")
        return
    lz = run_lazyllm_subprocess(python, repeats)
    if isinstance(lz, str):
        print(f"\nLazyLLM: {lz}")
        return
    report_lazyllm(lz)
    a = results["asyncio"]
    print("\nside by side (median time per operation; asyncllm on asyncio; LazyLLM in its own process)")
    print(f"  {'workload':<26}{'asyncllm':>13}{'LazyLLM':>13}{'LazyLLM/asyncllm':>18}")
    for label, ak, lk in [("module call", "await m(x)", "m(x)"),
                          ("pipeline of 10 modules", "pipeline of 10 modules", "pipeline of 10 modules"),
                          ("parallel of 1000", "parallel of 1000", "parallel of 1000")]:
        print(f"  {label:<26}{fmt_us(med(a, ak))}{fmt_us(med(lz, lk))}{med(lz, lk) / med(a, ak):17.1f}x")


if __name__ == "__main__":
    main()
