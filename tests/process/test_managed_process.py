"""ManagedProcess: real child processes, readiness, log tail, whole-group stop."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest
from proc_helpers import pid_alive

from asyncllm._exceptions import EngineStartError
from asyncllm._process import ManagedProcess, free_port, http_ok

pytestmark = pytest.mark.anyio


async def test_http_server_ready_then_stopped(tmp_path: Path) -> None:
    port = free_port()
    proc = ManagedProcess(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        name="httpserver",
        log_path=tmp_path / "srv.log",
    )
    await proc.start()
    try:
        await proc.wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/"), timeout=20)
        assert await http_ok(f"http://127.0.0.1:{port}/")
    finally:
        await proc.stop()
    assert not proc.running
    assert not await http_ok(f"http://127.0.0.1:{port}/", timeout=0.5)


async def test_exit_before_ready_raises_with_log_tail(tmp_path: Path) -> None:
    proc = ManagedProcess(
        [sys.executable, "-c", "import sys; print('engine boom: bad flag --xyz'); sys.exit(3)"],
        name="broken",
        log_path=tmp_path / "broken.log",
    )
    await proc.start()
    with pytest.raises(EngineStartError) as info:
        await proc.wait_until(lambda: http_ok("http://127.0.0.1:9/"), timeout=20)
    assert "exited with code 3" in str(info.value)
    assert "engine boom: bad flag --xyz" in info.value.log_tail
    await proc.stop()


async def test_stop_kills_whole_group_including_grandchildren(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild.pid"
    script = (
        "import subprocess, sys, time;"
        f"p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        f"open({str(pidfile)!r}, 'w').write(str(p.pid));"
        "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN);"  # leader ignores TERM: KILL must follow
        "time.sleep(600)"
    )
    proc = ManagedProcess([sys.executable, "-c", script], name="tree", log_path=tmp_path / "tree.log")
    await proc.start()
    apath = anyio.Path(pidfile)
    with anyio.fail_after(20):
        while not (await apath.exists() and (await apath.read_text()).strip()):
            await anyio.sleep(0.05)
    grandchild = int((await apath.read_text()).strip())
    assert pid_alive(grandchild)
    await proc.stop(grace=0.5)
    with anyio.fail_after(5):
        while pid_alive(grandchild):
            await anyio.sleep(0.05)
    assert proc.returncode is not None


async def test_port_file_and_timeout(tmp_path: Path) -> None:
    port_file = tmp_path / "port"
    proc = ManagedProcess(
        [sys.executable, "-c", f"import time; open({str(port_file)!r}, 'w').write('4321'); time.sleep(600)"],
        name="portwriter",
    )
    await proc.start()
    try:
        assert await proc.read_port_file(port_file, timeout=20) == 4321
        with pytest.raises(EngineStartError, match="not ready after"):
            await proc.wait_until(lambda: http_ok("http://127.0.0.1:9/", timeout=0.1), timeout=0.5)
    finally:
        await proc.stop(grace=1)
