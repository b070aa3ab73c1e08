"""Child process of test_ray_owner_thread.py: start Ray the way an application does (through
the launcher, from an AnyIO worker thread), retire the worker threads the way AnyIO does, and
report whether Ray's daemons survived. Prints one JSON line.

    python ray_retire_child.py asyncio|trio

The pools' idle limit (10 s in both AnyIO's asyncio pool and trio's thread cache) is cut to
0.5 s so that the retirement happens within the test; the pattern is the issue's: three
concurrent ``to_thread`` calls, an idle pause, one more call.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import anyio
import anyio.to_thread

IDLE = 0.5


def _retire_sooner(backend: str) -> None:
    if backend == "asyncio":
        from anyio._backends import _asyncio

        _asyncio.WorkerThread.MAX_IDLE_TIME = IDLE  # pruned at the next to_thread call
    else:
        from trio._core import _thread_cache

        _thread_cache.IDLE_TIMEOUT = IDLE  # read by each idle worker as it waits  # type: ignore[misc]


def _state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except OSError:
        return "gone"
    return stat[stat.rfind(")") + 2:].split()[0]  # Z: killed, not yet reaped


def _daemons() -> dict[int, str]:
    """Ray's head daemons forked by this process: pid → name."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read()
        except OSError:
            continue
        if int(stat[stat.rfind(")") + 2:].split()[1]) != os.getpid():
            continue
        for name in (b"gcs_server", b"raylet"):
            if name in cmd.split(b"\0")[0]:
                found[int(entry)] = name.decode()
    return found


async def main(backend: str) -> dict[str, Any]:
    from asyncllm import launchers
    from asyncllm.launchers import CommandSpec

    launcher = launchers.ray(num_cpus=0.25, ray_init={"num_cpus": 2, "object_store_memory": 100 * 1024**2})
    spec = CommandSpec([sys.executable, "-m", "http.server", "{port}", "--bind", "127.0.0.1"], name="http",
                       health_path="/", num_cpus=0.25)
    handle = await launcher.launch(spec)
    daemons = _daemons()
    async with anyio.create_task_group() as tg:
        for _ in range(3):
            tg.start_soon(anyio.to_thread.run_sync, time.sleep, 0.2)
    await anyio.sleep(IDLE * 3)
    await anyio.to_thread.run_sync(lambda: None)
    await anyio.sleep(2.0)  # a killed daemon is a zombie by now
    states = {f"{name} {pid}": _state(pid) for pid, name in daemons.items()}
    status = None
    with anyio.move_on_after(20):
        status = (await handle.poll()).value
    stopped = False
    with anyio.move_on_after(60):
        await handle.stop()
        stopped = True
    return {"daemons": states, "status": status, "stopped": stopped}


if __name__ == "__main__":
    _retire_sooner(sys.argv[1])
    print(json.dumps(anyio.run(main, sys.argv[1], backend=sys.argv[1])), flush=True)
