"""A request the server received runs at most once, unless the module is declared idempotent.

An output JSON cannot hold (an integer over 64 bits, nesting past 255, a lone surrogate) is
a typed JSON 500 with ``x-should-retry: false``, built before the status line goes out, that
the client raises as ``ServedModuleError``. A 5xx from something that is not an asyncllm
server, or a connection that breaks after the request went out, is not retried either.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import anyio
import httpx
import pytest
import security_targets as t
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

import asyncllm as al
from asyncllm._exceptions import InternalServerError
from asyncllm.serving import ServedModuleError, ServerModule, UrlModule, serve

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def runs(counter: Path) -> int:
    path = anyio.Path(counter)
    return (await path.read_text()).count("run\n") if await path.exists() else 0


@pytest.mark.parametrize("kind", ["bigint", "deep", "surrogate"])
async def test_unencodable_output_is_a_typed_500_run_once(launcher: str, kind: str, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    async with ServerModule("security_targets:unencodable", launcher=launcher) as s:
        with pytest.raises(ServedModuleError) as info:
            await s(str(counter), kind)
        assert info.value.remote_type == "OutputNotSerializable" and "64 bits" in str(info.value)
        assert await runs(counter) == 1
        async with httpx.AsyncClient(base_url=s.url) as c:
            r = await c.post("/generate", json={"args": [str(counter), kind]})
            assert r.status_code == 500 and r.headers["x-should-retry"] == "false"
            assert r.headers["content-type"] == "application/json"
            assert r.json()["error"]["type"] == "OutputNotSerializable"
        with pytest.raises(ServedModuleError, match="OutputNotSerializable"):
            async with s.stream(str(counter), kind) as st:
                [c async for c in st]
        assert await runs(counter) == 3  # one run per request, none repeated


async def test_unencodable_chunk_ends_the_stream_with_a_typed_error(launcher: str, tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    async with ServerModule("security_targets:streams_unencodable", launcher=launcher) as s:
        chunks: list[str] = []
        with pytest.raises(ServedModuleError, match="OutputNotSerializable"):
            async with s.stream(str(counter)) as st:
                async for c in st:
                    chunks.append(str(c))
        assert chunks == ["fine"]
        with pytest.raises(ServedModuleError, match="OutputNotSerializable"):
            await s(str(counter))
        assert await runs(counter) == 2
        async with httpx.AsyncClient(base_url=s.url) as c:  # the OpenAI face streams it too
            r = await c.post("/v1/chat/completions", json={"stream": True, "messages": [
                {"role": "user", "content": str(counter)}]})
            assert r.status_code == 200 and "OutputNotSerializable" in r.text
        assert await runs(counter) == 3


@asynccontextmanager
async def foreign_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A server that is not asyncllm's: every request counts, then it answers a plain 500."""
    seen: list[int] = []

    async def endpoint(request: Request) -> PlainTextResponse:
        seen.append(1)
        await request.body()
        return PlainTextResponse("Internal Server Error", status_code=500)

    app = Starlette(routes=[Route("/generate", endpoint, methods=["POST"])])
    async with anyio.create_task_group() as tg:
        url = await tg.start(serve, app)
        try:
            yield url, seen
        finally:
            tg.cancel_scope.cancel()


@asynccontextmanager
async def hanging_up_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A raw server that reads each request and closes the connection without an answer."""
    seen: list[int] = []
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def handle(conn: anyio.abc.SocketStream) -> None:
        async with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                data += await conn.receive()
            seen.append(1)

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, handle)
        try:
            yield f"http://127.0.0.1:{port}", seen
        finally:
            tg.cancel_scope.cancel()


async def test_a_plain_500_is_not_retried_unless_idempotent() -> None:
    async with foreign_server() as (url, seen):
        with pytest.raises(InternalServerError):
            await UrlModule(url=url)(1)
        assert len(seen) == 1
        with pytest.raises(InternalServerError):
            await UrlModule(url=url, idempotent=True)(1)
        assert len(seen) == 4  # declared idempotent: the client's three attempts


async def test_a_connection_that_breaks_after_sending_is_not_retried() -> None:
    async with hanging_up_server() as (url, seen):
        with pytest.raises(al.APIConnectionError, match="connection broke"):
            await UrlModule(url=url)(1)
        assert len(seen) == 1
        with pytest.raises(al.APIConnectionError):
            await UrlModule(url=url, idempotent=True)(1)
        assert len(seen) == 4


async def test_stop_closes_the_pooled_connections_to_the_server(launcher: str) -> None:
    s = ServerModule(t.double, launcher=launcher)
    await s.start()
    port = int(s.url.rsplit(":", 1)[1])
    assert await s(2) == 4
    assert _sockets_to(port) >= 1  # the pool keeps the connection for the next call
    await s.stop()
    assert _sockets_to(port) == 0


def _sockets_to(port: int) -> int:
    """This process's open sockets whose remote end is 127.0.0.1:``port``."""
    import os

    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if int(fields[2].rsplit(":", 1)[1], 16) == port:
                    inodes.add(fields[9])
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            count += 1
    return count
