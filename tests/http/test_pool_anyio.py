"""The anyio/h11 connection pool (trio's, and asyncio's without aiohttp) against a small raw
HTTP/1.1 server on 127.0.0.1 whose connection handling each test scripts: keep-alive reuse,
stale idle connections, ``Connection: close``, the connection cap, expiry, cancellation."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import anyio
import anyio.abc
import httpx
import pytest

from asyncllm._pool_anyio import AnyioPool

pytestmark = pytest.mark.anyio

Handler = Callable[[anyio.abc.SocketStream, "Server"], Awaitable[None]]


class Server:
    """What the raw server saw: connections accepted, open now, most open at once."""

    def __init__(self) -> None:
        self.accepted = 0
        self.open = 0
        self.peak = 0
        self.requests = 0
        self.closed = anyio.Event()


async def read_request(stream: anyio.abc.SocketStream, buf: bytearray) -> bool:
    """Consume one request (headers + Content-Length body) from ``stream``; False at EOF."""
    while b"\r\n\r\n" not in buf:
        try:
            buf += await stream.receive()
        except (anyio.EndOfStream, anyio.BrokenResourceError):
            return False
    head, _, rest = bytes(buf).partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += await stream.receive()
    buf[:] = rest[length:]
    return True


def answer(body: bytes = b'{"ok": true}', *extra: str) -> bytes:
    head = ["HTTP/1.1 200 OK", "content-type: application/json", f"content-length: {len(body)}", *extra]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, Server]]:
    state = Server()
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)

    async def serve(stream: anyio.abc.SocketStream) -> None:
        state.accepted += 1
        state.open += 1
        state.peak = max(state.peak, state.open)
        try:
            async with stream:
                await handler(stream, state)
        finally:
            state.open -= 1
            state.closed.set()

    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, serve)
        try:
            yield f"http://127.0.0.1:{port}", state
        finally:
            tg.cancel_scope.cancel()


async def keep_alive(stream: anyio.abc.SocketStream, state: Server) -> None:
    buf = bytearray()
    while await read_request(stream, buf):
        state.requests += 1
        await stream.send(answer())


def pool_for(url: str, **limits: float) -> AnyioPool:
    return AnyioPool(url, httpx.Limits(max_connections=int(limits.get("max_connections", 16)),
                                       max_keepalive_connections=int(limits.get("max_keepalive", 8)),
                                       keepalive_expiry=limits.get("keepalive_expiry", 15.0)))


async def get(pool: AnyioPool, url: str, body: bytes | None = None) -> bytes:
    ans = await pool.send_raw("POST" if body else "GET", url + "/x?q=1", {"accept": "*/*"}, body, 5.0)
    chunks, complete = [], False
    try:  # as _http does: a body read to its end is handed back, anything else closes
        while chunk := await ans.read_some():
            chunks.append(chunk)
        complete = True
    finally:
        await ans.aclose(complete)
    assert ans.status_code == 200 and ans.headers["Content-Type"] == "application/json"
    return b"".join(chunks)


async def test_keep_alive_reuses_one_connection() -> None:
    async with raw_server(keep_alive) as (url, srv):
        pool = pool_for(url)
        for _ in range(5):
            assert await get(pool, url, b'{"a": 1}') == b'{"ok": true}'
        assert srv.accepted == 1 and srv.requests == 5
        await pool.aclose()
        with anyio.fail_after(5):
            await srv.closed.wait()  # closing the pool closed the idle socket


async def test_stale_idle_connection_is_replaced() -> None:
    async def one_then_close(stream: anyio.abc.SocketStream, state: Server) -> None:
        # Answers one request and hangs up without saying so: the client's idle socket is stale.
        buf = bytearray()
        if await read_request(stream, buf):
            state.requests += 1
            await stream.send(answer())

    async with raw_server(one_then_close) as (url, srv):
        pool = pool_for(url)
        await get(pool, url)
        await anyio.sleep(0.05)  # let the server's close arrive
        assert await get(pool, url) == b'{"ok": true}'
        assert srv.accepted == 2 and srv.requests == 2
        await pool.aclose()


async def test_connection_close_is_not_reused() -> None:
    async def closing(stream: anyio.abc.SocketStream, state: Server) -> None:
        buf = bytearray()
        if await read_request(stream, buf):
            state.requests += 1
            await stream.send(answer(b"{}", "connection: close"))

    async with raw_server(closing) as (url, srv):
        pool = pool_for(url)
        for _ in range(3):
            assert await get(pool, url) == b"{}"
        assert srv.accepted == 3
        await pool.aclose()


async def test_connection_cap_holds_under_load() -> None:
    async def slow(stream: anyio.abc.SocketStream, state: Server) -> None:
        buf = bytearray()
        while await read_request(stream, buf):
            await anyio.sleep(0.05)
            await stream.send(answer())

    async with raw_server(slow) as (url, srv):
        pool = pool_for(url, max_connections=2)
        async with anyio.create_task_group() as tg:
            for _ in range(8):
                tg.start_soon(get, pool, url)
        assert srv.peak == 2
        await pool.aclose()


async def test_expired_idle_connection_is_closed() -> None:
    async with raw_server(keep_alive) as (url, srv):
        pool = pool_for(url, keepalive_expiry=0.05)
        await get(pool, url)
        await anyio.sleep(0.1)
        await get(pool, url)
        assert srv.accepted == 2
        with anyio.fail_after(5):
            while srv.open > 1:  # the expired one was closed, not left open
                await anyio.sleep(0.01)
        await pool.aclose()


async def test_cancel_mid_body_closes_and_frees_the_slot() -> None:
    async def half(stream: anyio.abc.SocketStream, state: Server) -> None:
        buf = bytearray()
        while await read_request(stream, buf):
            state.requests += 1
            if state.requests == 1:
                await stream.send(answer(b'{"long": "' + b"x" * 10 + b'"}')[:-5])  # then nothing
                await anyio.sleep(3600)
            await stream.send(answer())

    async with raw_server(half) as (url, srv):
        pool = pool_for(url, max_connections=1)
        with anyio.move_on_after(0.3) as scope:
            await get(pool, url)
        assert scope.cancelled_caught
        with anyio.fail_after(5):
            await get(pool, url)  # the one slot was given back; a fresh connection answers
        assert srv.accepted == 2
        await pool.aclose()


async def test_truncated_body_is_a_protocol_error() -> None:
    async def truncated(stream: anyio.abc.SocketStream, state: Server) -> None:
        buf = bytearray()
        if await read_request(stream, buf):
            await stream.send(answer(b'{"ok": true}')[:-4])  # and close

    async with raw_server(truncated) as (url, _):
        pool = pool_for(url)
        with pytest.raises(httpx.RemoteProtocolError):
            await get(pool, url)
        await pool.aclose()


async def test_connect_failures_are_typed() -> None:
    listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=0)
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    await listener.aclose()  # nothing listens there now
    pool = pool_for(f"http://127.0.0.1:{port}")
    with pytest.raises(httpx.ConnectError):
        await get(pool, f"http://127.0.0.1:{port}")
    await pool.aclose()
