"""The floors asyncllm's HTTP layer is measured against: raw aiohttp and raw httpx clients doing
the same work as ``asyncllm._http`` (send JSON, parse the JSON answer or every SSE frame).

The aiohttp floor is as lean as we know how to write it: ``TCPConnector(limit=0)`` (no pool
bookkeeping of a limit), orjson bodies, a hand-written SSE splitter over
``resp.content.iter_any()`` that ``orjson.loads`` each ``data:`` line, and embeddings asked for
as base64 and decoded with ``array('f')``.

Shared by the benchmark scripts; each function does one request and returns something derived
from the answer so the work cannot be skipped.
"""

from __future__ import annotations

import base64
import time
from array import array
from typing import Any

import aiohttp
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
