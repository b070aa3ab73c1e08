"""Non-streamed answers over real sockets: how bodies end (whole, dropped, cancelled, cut
short, compressed) and what each leaves behind in the pool. On asyncio these go through the
aiohttp pool, on trio through the anyio/h11 pool."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY

from asyncllm._exceptions import APIConnectionError, InternalServerError
from asyncllm._http import HTTPSettings, request_json

pytestmark = [
    pytest.mark.anyio,
    pytest.mark.filterwarnings("ignore:Async generator 'httpcore.:ResourceWarning"),
]

AUTH = {"authorization": f"Bearer {DEFAULT_KEY}"}
ONCE = HTTPSettings(max_attempts=1)


def chat_body(text: str = "hello world") -> dict[str, Any]:
    return {"model": "fake-chat", "messages": [{"role": "user", "content": text}]}


async def chat(fake: FakeServer, text: str = "ok", settings: HTTPSettings | None = None,
               **headers: str) -> tuple[Any, Any]:
    return await request_json("POST", f"{fake}/v1/chat/completions", json=chat_body(text),
                              headers={**AUTH, **headers}, settings=settings)


async def test_drop_mid_body_is_a_broken_connection_and_the_pool_recovers(fake: FakeServer) -> None:
    with pytest.raises(APIConnectionError, match="connection broke") as ei:
        await chat(fake, settings=ONCE, **{"x-fake-fault": "drop"})
    assert DEFAULT_KEY not in str(ei.value)
    body, _ = await chat(fake, "after")
    assert body["choices"][0]["message"]["content"] == "fake reply to: after"


async def test_drop_mid_body_is_retried_by_default(fake: FakeServer) -> None:
    body, _ = await chat(fake, "again", **{"x-fake-fault": "drop:1", "x-fake-fault-key": "retry-drop"})
    assert body["choices"][0]["message"]["content"] == "fake reply to: again"
    assert sum(r["path"].endswith("/chat/completions") for r in fake.state.requests) == 2


async def test_cancel_mid_body_closes_the_connection(fake: FakeServer) -> None:
    with anyio.move_on_after(0.5) as scope:
        await chat(fake, **{"x-fake-fault": "stall-mid"})
    assert scope.cancelled_caught
    assert fake.state.stream_closed is not None
    with anyio.fail_after(5):
        await fake.state.stream_closed.wait()  # the server saw the socket go, not a pooled idle one
    assert fake.state.disconnects == 1
    _, h1 = await chat(fake)
    _, h2 = await chat(fake)
    assert h1["x-fake-conn"] == h2["x-fake-conn"]  # later calls share one kept-alive connection


async def test_gzip_answer_is_decoded(fake: FakeServer) -> None:
    body, headers = await chat(fake, "zipped", **{"x-fake-fault": "gzip"})
    assert body["choices"][0]["message"]["content"] == "fake reply to: zipped"
    assert headers["X-Request-Id"]  # case-insensitive headers


async def test_huge_error_body_is_cut_short(fake: FakeServer) -> None:
    with pytest.raises(InternalServerError) as ei:
        await chat(fake, settings=ONCE, **{"x-fake-fault": "huge-error"})
    assert ei.value.status_code == 500 and len(str(ei.value)) < 1000
    body, _ = await chat(fake, "fine")  # the half-read connection was closed, not pooled
    assert body["choices"][0]["message"]["content"] == "fake reply to: fine"


async def test_callers_content_type_is_not_doubled(fake: FakeServer) -> None:
    await chat(fake, **{"Content-Type": "application/json; charset=utf-8"})
    sent = fake.state.requests[-1]["headers"]
    assert sent["content-type"] == "application/json; charset=utf-8"
