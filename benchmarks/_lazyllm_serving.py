"""LazyLLM's side of benchmarks/serving.py, run by an interpreter that has ``lazyllm``.

Serves the same trivial function with ``lazyllm.ServerModule`` (its relay server in a
subprocess) and calls it with LazyLLM's own client (``UrlModule``, blocking ``requests``) from
``concurrency`` threads, as LazyLLM code would. Prints one JSON line:
``{concurrency: {"rps", "client_us", "server_us"}}``. Server CPU is every descendant process's.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any


def trivial(x: Any) -> Any:
    return x


def _descendants_cpu() -> float:
    import psutil

    total = 0.0
    for child in psutil.Process(os.getpid()).children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def run_level(client: Any, conc: int, seconds: float) -> dict[str, float]:
    for i in range(min(conc, 32)):
        client(i)
    done = 0
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds + 3600  # set for real just before the workers start

    def worker(w: int) -> None:
        nonlocal done
        i = w
        while time.perf_counter() < stop_at:
            if client(i) != i:
                raise AssertionError("wrong answer")
            with lock:
                done += 1
            i += conc

    c0, s0, t0 = time.process_time(), _descendants_cpu(), time.perf_counter()
    stop_at = t0 + seconds
    with ThreadPoolExecutor(conc) as pool:
        list(pool.map(worker, range(conc)))
    t1, c1, s1 = time.perf_counter(), time.process_time(), _descendants_cpu()
    return {"rps": done / (t1 - t0), "client_us": (c1 - c0) / done * 1e6, "server_us": (s1 - s0) / done * 1e6}


def main() -> None:
    seconds = float(sys.argv[1])
    levels = [int(c) for c in sys.argv[2].split(",")]
    import lazyllm

    server = lazyllm.ServerModule(trivial, launcher=lazyllm.launchers.empty(sync=False))
    server.start()
    client = lazyllm.UrlModule(url=server._url)
    try:
        out = {conc: run_level(client, conc, seconds) for conc in levels}
    finally:
        server.stop()
    print("LAZYLLM_RESULT " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
