"""The floors asyncllm's HTTP layer is measured against: raw aiohttp and raw httpx clients doing
the same work as ``asyncllm._http`` (send JSON, parse the JSON answer or every SSE frame).

Shared by the benchmark scripts; each function does one request and returns something derived
from the answer so the work cannot be skipped.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import orjson

JSON_HEADERS = {"content-type": "application/json"}


def aiohttp_session(limit: int = 256) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=limit), cookie_jar=aiohttp.DummyCookieJar())


async def aiohttp_json(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> Any:
    async with session.post(url, data=orjson.dumps(body), headers={**JSON_HEADERS, **headers}) as resp:
        return orjson.loads(await resp.read())


async def aiohttp_sse(session: aiohttp.ClientSession, url: str, body: Any, headers: dict[str, str]) -> int:
    n = 0
    async with session.post(url, data=orjson.dumps(body), headers={**JSON_HEADERS, **headers}) as resp:
        async for line in resp.content:  # aiohttp splits on \n for us
            if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                orjson.loads(line[6:])
                n += 1
    return n


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
