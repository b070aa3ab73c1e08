"""Helpers the TrainableModule tests import: a real llama.cpp server (SmolLM2) to attach to
(whether a process is alive is ``tests/proc_helpers.pid_alive``). A module of their own, not
the conftest: ``from conftest import`` finds whichever directory's conftest came first on the
path, so ``pytest tests/trainable tests/seed`` failed to collect."""

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

