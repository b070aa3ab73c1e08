"""``asyncllm serve pkg.mod:obj`` as a real process on port 0."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import anyio
import pytest

import asyncllm as al
from asyncllm.serving import UrlModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

HERE = Path(__file__).parent


async def _serve(*args: str, env: dict[str, str] | None = None) -> tuple[anyio.abc.Process, str]:
    proc = await anyio.open_process(
        [sys.executable, "-m", "asyncllm._cli", "serve", "serving_targets:double", *args],
        cwd=HERE, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    assert proc.stdout is not None
    line = b""
    with anyio.fail_after(30):
        while not line.endswith(b"\n"):
            line += await proc.stdout.receive()
    return proc, line.decode().strip()


async def _stop(proc: anyio.abc.Process) -> int:
    with anyio.CancelScope(shield=True):
        os.killpg(proc.pid, signal.SIGTERM)
        with anyio.move_on_after(10):
            await proc.wait()
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        await proc.aclose()
        return proc.returncode  # type: ignore[return-value]


async def test_cli_serve_with_key_from_env() -> None:
    proc, line = await _serve("--key", "env:SERVE_TEST_KEY", env={"SERVE_TEST_KEY": "sk-from-env"})
    try:
        assert line.startswith("asyncllm serving http://127.0.0.1:")
        url = line.split()[2]
        assert await UrlModule(url=url, security_key="sk-from-env")(21) == 42
        with pytest.raises(al.AuthenticationError):
            await UrlModule(url=url)(1)
    finally:
        assert await _stop(proc) == 0  # SIGTERM: graceful shutdown, clean exit


async def test_cli_serve_generated_key() -> None:
    proc, line = await _serve("--key", "generate")
    try:
        url, key = line.split()[2], line.split("key=")[1]
        assert key.startswith("sk-")
        assert await UrlModule(url=url, security_key=key)("ab") == "abab"
    finally:
        await _stop(proc)
