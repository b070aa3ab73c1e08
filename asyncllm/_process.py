"""The one child-process lifecycle: engines, served subprocesses, fine-tune and download workers.

Every process starts in its own session (process group) with stdin closed and stdout and
stderr going to a log file (or stdout to a pipe, for a worker that reports on it), so that
``stop()`` can end the whole group (workers an engine forks included) and a failure can show
the last lines of the log. Readiness is an HTTP probe (or any async predicate), never log
scraping; port discovery may use a port file the child writes.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
from anyio.abc import ByteReceiveStream, Process

from ._exceptions import EngineStartError

__all__ = ["ManagedProcess", "free_port", "guarded", "http_ok", "import_dirs", "write_private"]


# A command's supervisor, for processes whose starter may die without stopping them (a crash,
# SIGKILL, a killed Ray actor). It leads the process group, polls its parent's pid and, when the
# parent is gone, terminates the command and then kills the group. The command is bound to it
# with PR_SET_PDEATHSIG — safe because the single-threaded supervisor forks from the thread that
# lives as long as it does (unlike binding to a trio worker thread, which retires after 10 s
# idle), so a SIGKILLed supervisor takes the command along. A normal group stop still works: the
# supervisor ignores SIGTERM and exits with the command's code.
_SUPERVISOR = """
import ctypes, os, signal, subprocess, sys
parent = int(sys.argv[1])
signal.signal(signal.SIGTERM, signal.SIG_IGN)
def child_setup():
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:  # PR_SET_PDEATHSIG: SIGTERM the command if the supervisor itself is SIGKILLed
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except Exception:
        pass
child = subprocess.Popen(sys.argv[2:], preexec_fn=child_setup)
while True:
    try:
        rc = child.wait(timeout=0.5)
        sys.exit(rc if rc >= 0 else 128 - rc)
    except subprocess.TimeoutExpired:
        if os.getppid() != parent:
            child.terminate()
            try:
                child.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
            os.killpg(0, signal.SIGKILL)
"""


def guarded(argv: Sequence[str]) -> list[str]:
    """``argv`` under the supervisor, bound to this process (Linux; unchanged elsewhere)."""
    if not sys.platform.startswith("linux"):
        return list(argv)
    return [sys.executable, "-c", _SUPERVISOR, str(os.getpid()), *argv]


def import_dirs() -> list[str]:
    """The directories on ``sys.path``, for a child interpreter to import what we serve or run."""
    return [p for p in sys.path if p and os.path.isdir(p)]


def write_private(path: str, data: bytes) -> None:
    """Create ``path`` readable by its owner only (0600) and write ``data``: for spec files that
    carry keys. Refuses an existing file or a symlink planted at ``path``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary name and a rename, so a reader polling for
    the file (a port file, a trial's result) never sees it half written."""
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (only for children that cannot bind port 0 themselves)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


async def http_ok(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200 within ``timeout``."""
    import httpx

    try:
        async with httpx.AsyncClient(timeout=timeout, trust_env=False) as client:
            resp = await client.get(url)
            return resp.status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def _tail(path: Path | None, lines: int) -> str:
    """The last ``lines`` lines of a log (from its last 64 KiB); "" when there is none."""
    if path is None:
        return ""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 64 * 1024))
            data = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


class ManagedProcess:
    """One child process in its own process group, logged to ``log_path``."""

    def __init__(self, argv: Sequence[str], *, name: str = "process", log_path: Path | None = None) -> None:
        self.argv = [str(a) for a in argv]
        self.name = name
        self.log_path = log_path
        self._proc: Process | None = None

    def __repr__(self) -> str:
        state = "new" if self._proc is None else f"pid={self._proc.pid} rc={self._proc.returncode}"
        return f"<ManagedProcess {self.name} {state}>"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.returncode

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.returncode is None

    @property
    def stdout(self) -> ByteReceiveStream:
        """The child's stdout, for a process started with ``capture_stdout=True``."""
        if self._proc is None or self._proc.stdout is None:
            raise RuntimeError(f"{self.name} was not started with capture_stdout=True")
        return self._proc.stdout

    async def start(self, *, env: Mapping[str, str] | None = None, cwd: str | Path | None = None,
                    capture_stdout: bool = False) -> None:
        """Start the command. ``capture_stdout``: its stdout is a pipe (:attr:`stdout`) instead
        of the log, for a worker that reports on it; stderr still goes to the log."""
        if self._proc is not None:
            raise RuntimeError(f"{self.name} was already started")
        if self.log_path is None:
            fd, path = await anyio.to_thread.run_sync(
                lambda: tempfile.mkstemp(prefix=f"asyncllm-{self.name}-", suffix=".log")
            )
            os.close(fd)
            self.log_path = Path(path)
        log_file: Any = await anyio.to_thread.run_sync(self._open_log)
        full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
        try:
            self._proc = await anyio.open_process(
                self.argv,
                stdin=subprocess.DEVNULL,  # a background child must not read (or steal) our terminal
                stdout=subprocess.PIPE if capture_stdout else log_file,
                stderr=log_file,
                env=full_env,
                cwd=str(cwd) if cwd else None,
                start_new_session=True,  # its own process group: stop() can end every descendant
            )
        except OSError as exc:
            raise EngineStartError(f"could not start {self.name} ({self.argv[0]}): {exc}") from exc
        finally:
            log_file.close()

    def _open_log(self) -> Any:
        assert self.log_path is not None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        return self.log_path.open("ab")

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)

    def _fail(self, message: str) -> EngineStartError:
        return EngineStartError(message, log_tail=self.log_tail(), log_path=str(self.log_path))

    async def wait_until(
        self, ready: Callable[[], Awaitable[bool]], *, timeout: float, interval: float = 0.1
    ) -> None:
        """Poll ``ready()`` until true; fail fast with the log tail when the child exits."""
        with anyio.move_on_after(timeout) as scope:
            while True:
                if not self.running:
                    raise self._fail(f"{self.name} exited with code {self.returncode} before it was ready")
                if await ready():
                    return
                await anyio.sleep(interval)
        if scope.cancelled_caught:
            raise self._fail(f"{self.name} was not ready after {timeout:.0f} s")

    async def read_port_file(self, path: Path, *, timeout: float) -> int:
        """Wait for the child to write its bound port into ``path``."""
        apath = anyio.Path(path)

        async def written() -> bool:
            return await apath.exists() and (await apath.read_text()).strip().isdigit()

        await self.wait_until(written, timeout=timeout, interval=0.05)
        return int((await apath.read_text()).strip())

    def _signal_group(self, sig: int) -> None:
        if self._proc is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    async def stop(self, grace: float = 5.0) -> int | None:
        """SIGTERM the whole group, wait ``grace`` s, then SIGKILL. Safe to call twice.

        Shielded, so a cancelled caller still leaves nothing running.
        """
        proc = self._proc
        if proc is None:
            return None
        with anyio.CancelScope(shield=True):
            if proc.returncode is None:
                self._signal_group(signal.SIGTERM)
                with anyio.move_on_after(grace):
                    await proc.wait()
            # Children of the leader may outlive it; the group kill reaches them too.
            self._signal_group(signal.SIGKILL)
            if proc.returncode is None:
                await proc.wait()
            await proc.aclose()
        return proc.returncode

    async def wait(self) -> int:
        if self._proc is None:
            raise RuntimeError(f"{self.name} was not started")
        return await self._proc.wait()
