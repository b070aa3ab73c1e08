"""The floors asyncllm's HTTP layer is measured against: raw aiohttp and raw httpx clients doing
the same work as ``asyncllm._http`` (send JSON, parse the JSON answer or every SSE frame).

The aiohttp floor is as lean as we know how to write it: ``TCPConnector(limit=0)`` (no pool
bookkeeping of a limit), orjson bodies, a hand-written SSE splitter over
``resp.content.iter_any()`` that ``orjson.loads`` each ``data:`` line, and embeddings asked for
as base64 and decoded with ``array('f')``.

The anyio-socket floor (``AnyioFloor``) is the same shape for trio, where aiohttp cannot run:
raw ``anyio.connect_tcp`` connections kept alive LIFO (no limit), hand-written request bytes, a
minimal HTTP/1.1 response parser (status line, ``content-length`` or ``chunked`` bodies, nothing
else) and the same SSE splitter. It is a floor for these benchmarks against our own aiohttp
test server, not a client: no TLS, proxies, redirects, trailers or error handling.

Shared by the benchmark scripts; each function does one request and returns something derived
from the answer so the work cannot be skipped.
"""

from __future__ import annotations

import base64
import time
from array import array
from typing import Any

import aiohttp
import anyio
import anyio.abc
import httpx
import orjson

JSON_HEADERS = {"content-type": "application/json"}


def aiohttp_session(limit: int = 0) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), cookie_jar=aiohttp.DummyCookieJar())


async def aiohttp_json(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> Any:
    async with session.post(url, data=orjson.dumps(body), headers={**JSON_HEADERS, **headers}) as resp:
        return orjson.loads(await resp.read())


async def aiohttp_sse(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str],
                      t0: float | None = None) -> Any:
    """Read an SSE answer, ``orjson.loads`` every ``data:`` line but ``[DONE]``. Returns the
    number of events, or with ``t0`` (a ``perf_counter`` start) the seconds to the first one."""
    n, first, rest = 0, 0.0, b""
    async with session.post(url, data=orjson.dumps(body), headers={**JSON_HEADERS, **headers}) as resp:
        async for data in resp.content.iter_any():
            lines = (rest + data).split(b"\n") if rest else data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line[:5] == b"data:" and (payload := line[5:].strip()) != b"[DONE]":
                    orjson.loads(payload)
                    if not n and t0 is not None:
                        first = time.perf_counter() - t0
                    n += 1
    return n if t0 is None else first


async def aiohttp_embed_b64(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str],
                            ) -> list[list[float]]:
    """Embeddings asked for as base64 and decoded with ``array('f')`` (as the openai SDK asks)."""
    answer = await aiohttp_json(session, url, {**body, "encoding_format": "base64"}, headers)
    return [array("f", base64.b64decode(d["embedding"])).tolist() for d in answer["data"]]


def httpx_client(limit: int = 256) -> httpx.AsyncClient:
    return httpx.AsyncClient(limits=httpx.Limits(max_connections=limit, max_keepalive_connections=limit),
                             timeout=60)


async def httpx_json(client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> Any:
    resp = await client.post(url, content=orjson.dumps(body), headers={**JSON_HEADERS, **headers})
    return orjson.loads(resp.content)


async def httpx_sse(client: httpx.AsyncClient, url: str, body: Any, headers: dict[str, str]) -> int:
    n = 0
    async with client.stream("POST", url, content=orjson.dumps(body), headers={**JSON_HEADERS, **headers}) as resp:
        async for line in resp.aiter_lines():
            if line.startswith("data: ") and line[6:].strip() != "[DONE]":
                orjson.loads(line[6:])
                n += 1
    return n


class _Conn:
    __slots__ = ("buf", "stream")

    def __init__(self, stream: anyio.abc.ByteStream) -> None:
        self.stream = stream
        self.buf = b""


class AnyioFloor:
    """A lean HTTP/1.1 client on anyio sockets for one ``host:port`` (see the module docstring)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        self._head = "".join(f"{k}: {v}\r\n" for k, v in {"host": f"{host}:{port}", **JSON_HEADERS,
                                                          **headers}.items()).encode()
        self._idle: list[_Conn] = []

    async def aclose(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.stream.aclose()

    async def _send(self, path: str, body: Any) -> tuple[_Conn, bool, int]:
        """Send a POST; returns the connection, whether the body is chunked, its length if not."""
        data = orjson.dumps(body)
        conn = self._idle.pop() if self._idle else _Conn(await anyio.connect_tcp(self.host, self.port))
        await conn.stream.send(b"POST %s HTTP/1.1\r\n%scontent-length: %d\r\n\r\n%s"
                               % (path.encode(), self._head, len(data), data))
        buf = conn.buf
        while (end := buf.find(b"\r\n\r\n")) < 0:
            buf += await conn.stream.receive(65536)
        chunked, length = False, 0
        for line in buf[:end].split(b"\r\n")[1:]:  # the status line is not looked at: the server is ours
            name, _, value = line.partition(b":")
            name = name.lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
        conn.buf = buf[end + 4:]
        return conn, chunked, length

    async def json(self, path: str, body: Any) -> Any:
        conn, _, length = await self._send(path, body)
        buf = conn.buf
        while len(buf) < length:
            buf += await conn.stream.receive(65536)
        conn.buf = buf[length:]
        self._idle.append(conn)
        return orjson.loads(buf[:length])

    async def sse(self, path: str, body: Any, t0: float | None = None) -> Any:
        """As :func:`aiohttp_sse`, over a chunked body parsed by hand."""
        conn, _, _ = await self._send(path, body)
        n, first, rest, buf = 0, 0.0, b"", conn.buf
        while True:
            end = buf.find(b"\r\n")
            if end < 0 or len(buf) < end + 4 + (size := int(buf[:end], 16)):
                buf += await conn.stream.receive(65536)
                continue
            if not size:  # the last chunk (no trailers)
                break
            data, buf = buf[end + 2:end + 2 + size], buf[end + 4 + size:]
            # aiohttp_sse's splitter, inline on purpose: a helper call per read would make both
            # floors heavier than the shape the issue describes.
            lines = (rest + data).split(b"\n") if rest else data.split(b"\n")
            rest = lines.pop()
            for line in lines:
                if line[:5] == b"data:" and (payload := line[5:].strip()) != b"[DONE]":
                    orjson.loads(payload)
                    if not n and t0 is not None:
                        first = time.perf_counter() - t0
                    n += 1
        conn.buf = buf[end + 4:]
        self._idle.append(conn)
        return n if t0 is None else first

    async def embed_b64(self, path: str, body: Any) -> list[list[float]]:
        answer = await self.json(path, {**body, "encoding_format": "base64"})
        return [array("f", base64.b64decode(d["embedding"])).tolist() for d in answer["data"]]
