"""What any client can do to a served module's sockets and descriptors, without a key.

Each attack runs on a real server (in-process and subprocess launchers, asyncio and trio):
connect-and-close churn, a run with a low descriptor limit, connection floods, slow headers,
slow bodies, unauthenticated bodies, idle kept-alive connections. The server must release
what a client leaves at once, cut slow clients at its configured deadlines, keep answering
``/health``, and never flood its log.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
import httpx
import pytest

from asyncllm.serving import ServerModule, SubprocessLauncher, UrlModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

KEY = "sk-sec-0123456789abcdef"


def _pid(s: ServerModule) -> int:
    return s.launcher.pid if isinstance(s.launcher, SubprocessLauncher) else os.getpid()


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _port(s: ServerModule) -> int:
    return int(s.url.rsplit(":", 1)[1])


async def _fds_back(pid: int, limit: int, within: float) -> int:
    """Poll ``pid``'s descriptor count until it is at most ``limit`` (or ``within`` seconds pass)."""
    with anyio.move_on_after(within):
        while _fds(pid) > limit:
            await anyio.sleep(0.1)
    return _fds(pid)


async def _until_closed(conn: anyio.abc.SocketStream, within: float) -> bytes:
    """Everything the server sends until it closes the connection; fails after ``within`` s."""
    data = b""
    with anyio.fail_after(within):
        while True:
            try:
                chunk = await conn.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError):
                return data
            data += chunk


async def _health(url: str, within: float = 3.0) -> int:
    async with httpx.AsyncClient(timeout=within) as c:
        return (await c.get(f"{url}/health")).status_code


def _low_fd_python(tmp_path: Path, limit: int) -> str:
    """A python 'interpreter' that runs with at most ``limit`` open descriptors."""
    script = tmp_path / "python-lowfd"
    script.write_text(f'#!/bin/sh\nulimit -n {limit}\nexec "{sys.executable}" "$@"\n')
    script.chmod(0o700)
    return str(script)


async def test_closed_connections_are_released_at_once(launcher: str) -> None:
    async with ServerModule("security_targets:double", launcher=launcher, security_key=KEY) as s:
        pid, port = _pid(s), _port(s)
        assert await _health(s.url) == 200
        base = _fds(pid)
        for _ in range(3000):
            conn = await anyio.connect_tcp("127.0.0.1", port)
            await conn.aclose()
        assert await _fds_back(pid, base + 4, within=5.0) <= base + 4
        assert await UrlModule(url=s.url, security_key=KEY)(21) == 42  # and it still serves


async def test_low_descriptor_limit_keeps_health_answering(tmp_path: Path) -> None:
    s = ServerModule("security_targets:double", security_key=KEY,
                     launcher=SubprocessLauncher(python=_low_fd_python(tmp_path, 256)))
    async with s:
        port = _port(s)
        for _ in range(15):  # 1,500 unauthenticated connect-and-close cycles, 6x the limit
            for _ in range(100):
                conn = await anyio.connect_tcp("127.0.0.1", port)
                await conn.aclose()
            assert await _health(s.url) == 200
        assert s.launcher.log_path is not None
        assert (await anyio.Path(s.launcher.log_path).stat()).st_size < 16 * 1024


async def test_connection_flood_gets_503_and_recovers(tmp_path: Path) -> None:
    s = ServerModule("security_targets:double", security_key=KEY, header_timeout=30,
                     launcher=SubprocessLauncher(python=_low_fd_python(tmp_path, 256)))
    async with s:
        port = _port(s)
        held = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(400)]
        try:
            # Over the cap (256 descriptors less a quarter kept free) a connection is answered
            # 503 and closed at once, instead of the process running out of descriptors.
            busy = 0
            for conn in held[-100:]:
                if b" 503 " in await _until_closed(conn, within=5.0):
                    busy += 1
            assert busy == 100
        finally:
            for conn in held:
                await conn.aclose()
        with anyio.fail_after(10):
            while True:  # the refused connections are released, the held ones too: it answers again
                try:
                    if await _health(s.url, within=1.0) == 200:
                        break
                except httpx.HTTPError:
                    pass
                await anyio.sleep(0.1)
        assert s.launcher.log_path is not None
        log = await anyio.Path(s.launcher.log_path).read_text()
        assert log.count("connection refused") <= 2 and len(log) < 16 * 1024


async def test_exhausted_descriptors_are_logged_without_a_flood(anyio_backend: str) -> None:
    async with ServerModule("security_targets:hog_fds", launcher="subprocess") as s:
        port = _port(s)
        assert await s(2.0) > 0  # the server now holds every descriptor it may open, for 2 s
        waiting = [await anyio.connect_tcp("127.0.0.1", port) for _ in range(20)]
        await anyio.sleep(2.5)
        for conn in waiting:
            await conn.aclose()
        with anyio.fail_after(10):
            while True:
                try:
                    if await _health(s.url, within=1.0) == 200:
                        break
                except httpx.HTTPError:
                    pass
                await anyio.sleep(0.1)
        assert s.launcher.log_path is not None
        log = await anyio.Path(s.launcher.log_path).read_text()
        assert "accepting a connection failed" in log  # said, once per interval...
        assert log.count("accepting a connection failed") <= 2 and len(log) < 16 * 1024  # ...not flooded


async def test_slow_headers_are_cut(launcher: str) -> None:
    async with ServerModule("security_targets:double", launcher=launcher, security_key=KEY,
                            header_timeout=1.5) as s:
        port = _port(s)
        async with await anyio.connect_tcp("127.0.0.1", port) as idle:
            await _until_closed(idle, within=5.0)  # connected, never sent a byte
        async with await anyio.connect_tcp("127.0.0.1", port) as slow:
            start = anyio.current_time()

            async def drip() -> None:
                for b in b"GET /health HTTP/1.1\r\nhost: x\r\nx-pad: " + b"a" * 100:
                    await slow.send(bytes([b]))
                    await anyio.sleep(0.2)

            async with anyio.create_task_group() as tg:
                tg.start_soon(drip)
                await _until_closed(slow, within=5.0)
                tg.cancel_scope.cancel()
            assert anyio.current_time() - start < 5.0
        # a kept-alive connection's next request is on the header clock from its first byte
        async with await anyio.connect_tcp("127.0.0.1", port) as conn:
            await conn.send(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            with anyio.fail_after(5):
                assert b" 200 " in await conn.receive()
            await conn.send(b"GET /hea")
            await _until_closed(conn, within=5.0)
        assert await _health(s.url) == 200


async def test_slow_body_gets_408(launcher: str) -> None:
    async with ServerModule("security_targets:double", launcher=launcher, security_key=KEY,
                            body_timeout=1.5) as s:
        port = _port(s)
        head = (b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                b"authorization: Bearer " + KEY.encode() + b"\r\ncontent-length: 100\r\n\r\n")
        async with await anyio.connect_tcp("127.0.0.1", port) as silent:
            await silent.send(head)
            answer = await _until_closed(silent, within=5.0)
        assert b" 408 " in answer and b"RequestTimeout" in answer and b"body_timeout" in answer
        async with await anyio.connect_tcp("127.0.0.1", port) as drip:
            await drip.send(head + b'{"args": [')

            async def trickle() -> None:
                for _ in range(100):
                    await drip.send(b" ")
                    await anyio.sleep(0.2)

            async with anyio.create_task_group() as tg:
                tg.start_soon(trickle)
                answer = await _until_closed(drip, within=5.0)
                tg.cancel_scope.cancel()
        assert b" 408 " in answer
        assert await UrlModule(url=s.url, security_key=KEY)(2) == 4


async def test_unauthenticated_body_is_never_read(launcher: str) -> None:
    async with ServerModule("security_targets:double", launcher=launcher, security_key=KEY) as s:
        async with await anyio.connect_tcp("127.0.0.1", _port(s)) as conn:
            # Headers promise a body that never comes: the 401 does not wait for it (the body
            # deadline is 30 s; this answer must come well before).
            await conn.send(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"content-length: 100000\r\n\r\n")
            answer = await _until_closed(conn, within=3.0)
        assert b" 401 " in answer and b"AuthenticationFailed" in answer


async def test_idle_keep_alive_is_closed(launcher: str) -> None:
    async with ServerModule("security_targets:double", launcher=launcher, keep_alive_timeout=1.0) as s:
        async with await anyio.connect_tcp("127.0.0.1", _port(s)) as conn:
            await conn.send(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            answer = await _until_closed(conn, within=5.0)
        assert b" 200 " in answer
        # the client pools keep idle connections for less than the server does: calls go on working
        client = UrlModule(url=s.url)
        assert await client(1) == 2
        assert await client(2) == 4


async def test_slow_body_gets_408_when_mounted_in_another_server() -> None:
    """Mounted in a server that is not asyncllm's (here: hypercorn with its own config), the
    app's guard keeps the body deadline itself."""
    import socket

    import sniffio
    from hypercorn.config import Config
    from security_targets import double

    from asyncllm.serving import create_app

    app = create_app(double, security_key=KEY, body_timeout=1.0)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = Config()
    config.bind = [f"fd://{sock.detach()}"]
    config.accesslog = config.errorlog = None
    if sniffio.current_async_library() == "trio":
        from hypercorn.trio import serve
    else:
        from hypercorn.asyncio import serve  # type: ignore[assignment]
    stop = anyio.Event()
    async with anyio.create_task_group() as tg:
        tg.start_soon(lambda: serve(app, config, shutdown_trigger=stop.wait))  # type: ignore[arg-type]
        async with await anyio.connect_tcp("127.0.0.1", port) as conn:
            await conn.send(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"authorization: Bearer " + KEY.encode() + b"\r\ncontent-length: 100\r\n\r\n")
            answer = await _until_closed(conn, within=5.0)
        stop.set()
    assert b" 408 " in answer and b"RequestTimeout" in answer
