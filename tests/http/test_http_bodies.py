"""Non-streamed answers over real sockets: how bodies end (whole, dropped, cancelled, cut
short, compressed) and what each leaves behind in the pool. On asyncio these go through the
aiohttp pool, on trio through the anyio/h11 pool."""

from __future__ import annotations

import functools
import tracemalloc
from typing import Any

import anyio
import orjson
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


async def test_a_call_in_flight_holds_its_body_at_its_own_size(fake: FakeServer) -> None:
    # A body lives as long as its call; a JSON encoder's spare buffer must not live with it
    # (orjson's is ~10x a long text: 10,000 calls in flight would hold it all).
    calls, text = 8, "x" * 50_000
    body_size = len(orjson.dumps(chat_body(text)))
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        async with anyio.create_task_group() as tg:
            for _ in range(calls):
                tg.start_soon(functools.partial(chat, fake, text, ONCE, **{"x-fake-fault": "stall-first"}))
            with anyio.fail_after(10):
                while len(fake.state.requests) < calls:  # all sent, none answered
                    await anyio.sleep(0.01)
            during = tracemalloc.take_snapshot()
            tg.cancel_scope.cancel()
    finally:
        tracemalloc.stop()
    ours = [tracemalloc.Filter(True, "*/asyncllm/*")]  # the library's own allocations, not the server's
    grown = sum(d.size_diff for d in during.filter_traces(ours).compare_to(before.filter_traces(ours), "filename"))
    assert grown / calls < 2 * body_size, f"{grown / calls:.0f} bytes held per call for a {body_size}-byte body"


async def test_a_body_that_is_not_json_is_a_typed_error_that_names_the_fix(fake: FakeServer) -> None:
    """An object in a request body (a keyword argument's value, an option) is refused before
    anything is sent, as a WireError (a ConfigError and a TypeError) that says what may go in a
    body; orjson's own TypeError said only the type's name. The same from a module call."""
    import asyncllm as al
    from asyncllm._http import stream_sse
    from asyncllm.serving import WireError

    fix = "must be str, int, float, bool, None, a list or a dict"
    with pytest.raises(WireError, match=fix) as direct:
        await request_json("POST", f"{fake}/v1/chat/completions", json={"x": object()}, headers=AUTH)
    assert isinstance(direct.value, al.ConfigError) and isinstance(direct.value, TypeError)
    with pytest.raises(WireError, match=fix):
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json={"x": {1j}}, headers=AUTH):
            pass
    llm = al.OnlineChatModule(source="openai", base_url=f"{fake}/v1/", api_key=DEFAULT_KEY, model="gpt-4o-mini")
    with pytest.raises(WireError, match=fix):
        await llm("hi", temperature=object())
    assert fake.state.requests == []  # nothing reached the server
