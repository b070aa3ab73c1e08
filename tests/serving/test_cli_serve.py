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


async def _serve(*args: str, env: dict[str, str] | None = None,
                 target: str = "serving_targets:double") -> tuple[anyio.abc.Process, str]:
    proc = await anyio.open_process(
        [sys.executable, "-m", "asyncllm._cli", "serve", target, *args],
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


def test_every_server_and_caller_setting_has_a_flag() -> None:
    # Each field of ServerOptions and CallerPolicy, given a non-default value on the command
    # line, arrives in the options object: a new setting without a flag fails here.
    import dataclasses

    from asyncllm._cli import build_parser
    from asyncllm.serving.cli import options_from

    argv = ["serve", "m:x", "--host", "::1", "--port", "8123", "--max-body-bytes", "99", "--max-header-bytes", "98",
            "--request-timeout", "7", "--header-timeout", "6", "--body-timeout", "5", "--keep-alive-timeout", "4",
            "--max-connections", "3", "--graceful-timeout", "2", "--sse-keepalive", "9", "--debug",
            "--model-name", "m1", "--metrics", "--allow-param", "temperature", "--allow-param", "top_p",
            "--cap", "max_tokens=100", "--no-history", "--no-files", "--file-urls", "--file-root", "/srv/in",
            "--max-files", "2", "--max-file-bytes", "1000"]
    opts = options_from(build_parser().parse_args(argv), "sk-x")
    default, caller_default = al.ServerOptions(), al.CallerPolicy()
    unchanged = [f.name for f in dataclasses.fields(opts) if getattr(opts, f.name) == getattr(default, f.name)]
    unchanged += [f"caller.{f.name}" for f in dataclasses.fields(opts.caller)
                  if getattr(opts.caller, f.name) == getattr(caller_default, f.name)]
    assert unchanged == []
    assert opts.caller.params == {"temperature", "top_p"} and opts.caller.caps["max_tokens"] == 100
    assert opts.caller.caps["n"] == 1  # the rest of the default caps stay


@pytest.mark.parametrize(("flags", "fragment"), [
    (["--cap", "max_tokens"], "NAME=NUMBER"),
    (["--max-connections", "0"], "max_connections"),
    (["--allow-param", ""], "CallerPolicy"),
])
def test_a_bad_flag_is_one_line_naming_it(flags: list[str], fragment: str) -> None:
    proc = subprocess.run([sys.executable, "-m", "asyncllm._cli", "serve", "serving_targets:double", *flags],
                          cwd=HERE, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stdout == "" and len(proc.stderr.strip().splitlines()) == 1 and fragment in proc.stderr


async def test_cli_serve_caller_policy_flags() -> None:
    proc, line = await _serve("--allow-param", "scale", "--metrics", target="serving_targets:add")
    try:
        url = line.split()[2]
        assert await UrlModule(url=url)(1, 2, scale=10) == 30
        with pytest.raises(al.PermissionDeniedError, match="--allow-param b"):  # the flag that opens it
            await UrlModule(url=url)(1, 2, b=5)
        import httpx

        async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
            metrics = await client.get(url + "/metrics")
        assert metrics.status_code == 200 and "asyncllm" in metrics.text
    finally:
        await _stop(proc)
    proc, line = await _serve(target="serving_targets:add")  # without the flag: refused
    try:
        with pytest.raises(al.PermissionDeniedError, match="scale"):
            await UrlModule(url=line.split()[2])(1, 2, scale=10)
    finally:
        await _stop(proc)
