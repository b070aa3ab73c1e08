"""Launchers: start/stop from different tasks, no leftovers, failures that explain themselves."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import anyio
import pytest
import serving_targets as t

import asyncllm as al
from asyncllm._importpath import locate
from asyncllm.serving import InProcessLauncher, ServerModule, SubprocessLauncher

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_start_and_stop_in_different_tasks(launcher: str) -> None:
    s = ServerModule(t.double, launcher=launcher)
    async with anyio.create_task_group() as tg:
        tg.start_soon(s.start)
    assert await s(2) == 4
    async with anyio.create_task_group() as tg:
        tg.start_soon(s.stop)
    assert s.url == "" and not s.launcher.running
    await s.start()  # restartable
    assert await s(3) == 6
    await s.restart()
    assert await s(4) == 8
    await s.stop()


async def test_cancelled_caller_does_not_leave_server(launcher: str) -> None:
    s = ServerModule(t.double, launcher=launcher)
    await s.start()
    with anyio.CancelScope() as scope:
        scope.cancel()
        await s.stop()  # shielded: completes even inside a cancelled scope
    assert not s.launcher.running


_TARGETS_DIR = Path(t.__file__).resolve().parent


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_subprocess_own_group_and_nothing_left() -> None:
    s = ServerModule(t.spawner, launcher="subprocess")
    await s.start()
    pid = s.launcher.pid
    assert pid is not None and os.getpgid(pid) == pid != os.getpgid(0)  # its own process group
    grandchild = await s._call("spawn")  # as an engine started by a served module would be
    assert os.getpgid(grandchild) == pid
    await s.stop()
    with anyio.fail_after(10):
        while _group_alive(pid):
            await anyio.sleep(0.05)
    assert s.launcher.log_path is None  # the private temp dir (spec, port file, log) is gone


async def test_subprocess_ignoring_sigterm_is_killed() -> None:
    launcher = SubprocessLauncher(stop_grace=0.3)
    async with ServerModule(t.double, launcher=launcher) as s:
        assert launcher.pid is not None
        pid = launcher.pid
        assert await s(1) == 2
        os.kill(pid, signal.SIGSTOP)  # a stopped process cannot act on SIGTERM
    assert not _group_alive(pid)


async def test_spec_file_with_key_is_deleted_and_key_not_on_command_line(tmp_path: Path) -> None:
    async with ServerModule(t.double, launcher="subprocess", security_key="sk-cmdline-check") as s:
        pid = s.launcher.pid
        cmdline = await anyio.Path(f"/proc/{pid}/cmdline").read_bytes()
        assert b"sk-cmdline-check" not in cmdline
        assert "spec.json" not in os.listdir(os.path.dirname(s.launcher.log_path))  # read, then deleted


async def test_bad_import_path_fails_with_log_tail() -> None:
    s = ServerModule("serving_targets:no_such_thing", launcher="subprocess")
    with pytest.raises(al.LifecycleError) as info:
        await s.start()
    assert "no_such_thing" in str(info.value)  # the child's traceback tail names it
    assert not s.launcher.running


def test_locate() -> None:
    assert locate(t.double) == "serving_targets:double"
    assert locate(t.counter) == "serving_targets:counter"
    assert locate("a.b:c") == "a.b:c"
    with pytest.raises(al.ConfigError, match="import path"):
        locate("not-a-path")
    with pytest.raises(al.ConfigError, match="module level"):
        locate(lambda x: x)


async def test_inprocess_launcher_serves_import_path_and_refuses_double_launch() -> None:
    async with ServerModule("serving_targets:double") as s:
        assert await s(5) == 10
        with pytest.raises(al.LifecycleError, match="already runs"):
            await s.launcher.launch(s._spec)


async def test_wait_returns_after_stop() -> None:
    s = ServerModule(t.double, launcher=InProcessLauncher())
    await s.start()
    async with anyio.create_task_group() as tg:
        tg.start_soon(s.wait)
        await anyio.sleep(0.05)
        await s.stop()


async def test_module_lifecycle_reaches_served_flow() -> None:
    inner = ServerModule(t.double)
    outer = ServerModule(al.pipeline(inner))
    await outer.start()
    assert inner.url  # deployed as part of the outer server's start
    await outer.stop()
    assert not inner.url


async def test_subprocess_server_ends_itself_when_its_parent_dies(tmp_path: Path) -> None:
    """A parent killed without stop() must not leave its served child running for ever."""
    pid_file = tmp_path / "child.pid"
    script = (
        "import os, anyio, serving_targets as t\n"
        "from asyncllm.serving import ServerModule\n"
        "async def main():\n"
        "    s = ServerModule(t.double, launcher='subprocess')\n"
        "    await s.start()\n"
        f"    open({str(pid_file)!r}, 'w').write(str(s.launcher.pid))\n"
        "    os._exit(1)  # dies without stop()\n"
        "anyio.run(main)\n"
    )
    here = str(_TARGETS_DIR)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    with anyio.fail_after(60):
        done = await anyio.run_process([sys.executable, "-c", script], env=env, check=False)
    assert done.returncode == 1
    child = int(await anyio.Path(pid_file).read_text())
    with anyio.fail_after(15):
        while _group_alive(child):
            await anyio.sleep(0.1)


async def test_cancelled_subprocess_start_stays_a_cancellation_and_leaves_nothing() -> None:
    """Cancelling the caller while the child starts must cancel (not turn into EngineStartError)
    and must stop the child and remove its folder."""
    launcher = SubprocessLauncher()
    s = ServerModule(t.double, launcher=launcher)
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:
            async def cancel_once_started() -> None:
                while launcher.pid is None:
                    await anyio.sleep(0.005)
                scope.cancel()

            tg.start_soon(cancel_once_started)
            await s.start()
    assert scope.cancelled_caught
    pid = launcher.pid
    assert pid is not None and not launcher.running and launcher.log_path is None
    assert not _group_alive(pid)
