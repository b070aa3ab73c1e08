"""Helpers the TrainableModule tests import: whether a process is alive, and a real llama.cpp
server (SmolLM2) to attach to. A module of their own, not the conftest: ``from conftest import``
finds whichever directory's conftest came first on the path, so ``pytest tests/trainable
tests/seed`` failed to collect."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

from asyncllm import deploy
from asyncllm._process import free_port
from asyncllm.trainable import resolve_model


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); it is gone for our purposes once reaped or marked Z.
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except OSError:
        return False


@contextlib.contextmanager
def llamacpp_server(log: Path) -> Iterator[tuple[str, int]]:
    """``(base URL, pid)`` of a llama.cpp server on SmolLM2, started as TrainableModule would
    (its own process group, output to ``log``) and stopped (SIGTERM, then SIGKILL) on exit."""
    import httpx

    port = free_port()
    with log.open("wb") as fh:
        proc = subprocess.Popen(deploy.llamacpp().command(resolve_model("SmolLM2-135M-Instruct").path, port, None),
                                stdout=fh, stderr=fh, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, log.read_text()[-2000:]
            try:
                if httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "llama.cpp did not start"
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1", proc.pid
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

