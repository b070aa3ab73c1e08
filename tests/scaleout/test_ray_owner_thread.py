"""Ray started from a worker thread survives the thread pool retiring that thread (issue 17.1).

Ray's daemons die with the thread that forked them (PR_SET_PDEATHSIG); AnyIO's pool and trio's
thread cache retire a worker after 10 s idle. The child (ray_retire_child.py) starts its own Ray
through the launcher, as an application does, retires the worker threads, and reports. Its own
process: one Ray per process, and the session's Ray is started from the main thread."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import anyio
import pytest

pytest.importorskip("ray", reason="ray not installed (pip install 'asyncllm[ray]')")

pytestmark = [pytest.mark.ray, pytest.mark.anyio, pytest.mark.timeout(240)]

HERE = Path(__file__).parent


async def test_ray_survives_worker_thread_retirement(anyio_backend: str) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent.parent), str(HERE),
                                                         os.environ.get("PYTHONPATH", "")])}
    # Unfixed, Ray ends the child ~60 s after its daemons die: the limit leaves room for that.
    with anyio.fail_after(180):
        proc = await anyio.run_process([sys.executable, str(HERE / "ray_retire_child.py"), anyio_backend],
                                       env=env, check=False)
    out = proc.stdout.decode(errors="replace").strip().splitlines()
    assert proc.returncode == 0 and out, (proc.returncode, proc.stderr.decode(errors="replace")[-3000:])
    report = json.loads(out[-1])
    assert len(report["daemons"]) >= 2, report  # gcs_server and raylet were found
    assert all(state in "RSD" for state in report["daemons"].values()), report  # none killed
    assert report["status"] == "running" and report["stopped"], report
    pids = [int(key.split()[1]) for key in report["daemons"]]
    with anyio.fail_after(30):  # and stop() ended them
        while [pid for pid in pids if await anyio.Path(f"/proc/{pid}").exists()]:
            await anyio.sleep(0.2)
