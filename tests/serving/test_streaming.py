"""Streaming end to end over SSE: chunks as produced, nested flows, cancellation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
import serving_targets as t

import asyncllm as al
from asyncllm.serving import ServerModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_stream_chunks_keep_module_and_tag(launcher: str) -> None:
    async with ServerModule(t.letters, launcher=launcher) as s:
        async with s.stream("abc") as st:
            chunks = [c async for c in st]
        assert chunks == ["a", "b", "c"]
        assert all(isinstance(c, al.Chunk) and c.module == "letters" and c.tag == "text" for c in chunks)
        assert st.result == "abc"
        assert await s("xyz") == "xyz"  # not streamed: joined result


async def test_chunks_arrive_while_server_still_works(launcher: str, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    async with ServerModule(t.gated, launcher=launcher) as s:
        seen = []
        with anyio.fail_after(20):
            async with s.stream(str(gate)) as st:
                async for c in st:
                    seen.append(str(c))
                    if c == "first":
                        gate.write_text("open")  # the server waits for this before 'second'
        assert seen == ["first", "second"]


async def test_nested_flow_stream_through_two_servers(launcher: str) -> None:
    inner = ServerModule(t.letters, name="inner-server")
    flow = al.pipeline(lambda x: x * 2, inner, lambda s: s.upper())
    async with ServerModule(flow, launcher="inprocess") as outer:
        async with outer.stream("ab") as st:
            chunks = [c async for c in st]
        assert chunks == ["a", "b", "a", "b"]
        assert {c.module for c in chunks} == {"letters"}  # names survive two hops
        assert st.result == "ABAB"
    async with ServerModule(t.upper_pipeline, launcher=launcher) as s:
        assert [str(c) async for c in s.stream("hi")] == ["h", "i"]


async def test_stream_flag_and_plain_callable_async_generator() -> None:
    async def gen(n: int):  # type: ignore[no-untyped-def]
        for i in range(n):
            yield str(i)

    async with ServerModule(gen, stream=True) as s:
        assert await s(3) == "012"
        assert [str(c) async for c in s.stream(2)] == ["0", "1"]


async def test_client_cancel_stops_server_work(launcher: str, tmp_path: Path) -> None:
    marker = tmp_path / "closed"
    async with ServerModule(t.endless, launcher=launcher) as s:
        async with s.stream(str(marker)) as st:
            n = 0
            async for _ in st:
                n += 1
                if n == 3:
                    break
        with anyio.fail_after(10):
            while not marker.exists():
                await anyio.sleep(0.02)
        assert marker.read_text() == "closed"
        assert await _health(s)


async def test_cancelled_plain_call_cancels_server_work(launcher: str, tmp_path: Path) -> None:
    marker = tmp_path / "slow"
    async with ServerModule(t.slow, launcher=launcher, caller=al.CallerPolicy(params={"delay", "marker"})) as s:
        with anyio.move_on_after(0.3):
            await s("x", delay=30, marker=str(marker))
        with anyio.fail_after(10):
            while not marker.exists():
                await anyio.sleep(0.02)
        assert await _health(s)


async def test_stream_error_event_is_typed(launcher: str) -> None:
    async with ServerModule(t.boom, launcher=launcher) as s:
        with pytest.raises(al.ModuleExecutionError, match="ValueError"):
            async with s.stream("x") as st:
                async for _ in st:
                    pass


async def _health(s: ServerModule) -> bool:
    from asyncllm._http import request_json

    body, _ = await request_json("GET", f"{s.url}/health")
    return bool(body == {"status": "ok"})


async def test_keepalive_comments_outlast_client_idle_timeout(launcher: str) -> None:
    from asyncllm._http import HTTPSettings

    idle = HTTPSettings(idle_timeout=0.6, first_chunk_timeout=5, max_attempts=1)
    async with ServerModule(t.letters, launcher=launcher, sse_keepalive=0.1,
                            caller=al.CallerPolicy(params={"gap"})) as s:
        client = ServerModule(url=s.url, settings=idle)
        async with client.stream("ab", gap=1.2) as st:  # 1.2 s of silence between chunks
            assert [str(c) async for c in st] == ["a", "b"]
    # the control: no comments in time
    async with ServerModule(t.letters, sse_keepalive=30, caller=al.CallerPolicy(params={"gap"})) as s:
        client = ServerModule(url=s.url, settings=idle)
        with pytest.raises(al.APITimeoutError, match="idle"):
            async with client.stream("ab", gap=1.2) as st:
                [c async for c in st]


async def test_stream_with_pre_and_post() -> None:
    async with ServerModule(t.letters, pre=str.lower, post=lambda out, origin: f"{origin}->{out}") as s:
        async with s.stream("AB") as st:
            chunks = [str(c) async for c in st]
        assert chunks == ["a", "b"]  # chunks as the module produced them
        assert st.result == "AB->ab"  # post shapes the final result only


async def test_a_served_async_call_leaves_no_watcher_behind_and_a_disconnect_cancels_it() -> None:
    """The app watches for the client going away while an async module runs (on asyncio a native
    watcher task, serving/_asgi.py): by the time the app has answered, that task is gone; and a
    disconnect while the module runs cancels it (the module's ``finally`` runs, the answer is
    499). The app is called as a server calls it, with a ``receive`` that gives the body and then
    waits, as hypercorn's does."""
    from asyncllm.serving import create_app

    finished: list[str] = []

    class Waits(al.ModuleBase):
        async def forward(self, x: Any) -> Any:
            try:
                if x == "hang":
                    await anyio.sleep_forever()
                return x
            finally:
                finished.append(str(x))

    app = create_app(Waits())
    body = b'{"args": ["ok"], "kwargs": {}}'
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": "/generate", "raw_path": b"/generate", "query_string": b"",
             "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")]}

    async def call(payload: bytes, gone: anyio.Event | None) -> list[Any]:
        sent: list[Any] = []
        messages = [{"type": "http.request", "body": payload, "more_body": False}]

        async def receive() -> Any:
            if messages:
                return messages.pop()
            if gone is not None:
                await gone.wait()
                return {"type": "http.disconnect"}
            await anyio.sleep_forever()

        async def send(message: Any) -> None:
            sent.append(message)

        await app(dict(scope, headers=[*scope["headers"], (b"content-length", str(len(payload)).encode())]),
                  receive, send)
        return sent

    def tasks() -> int:
        import sniffio

        if sniffio.current_async_library() != "asyncio":
            return 0  # trio: the watcher lives in a task group, which cannot outlive the call
        import asyncio

        return len(asyncio.all_tasks())

    before = tasks()
    sent = await call(body, None)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b'{"output":"ok"}'
    assert tasks() == before and finished == ["ok"]

    gone = anyio.Event()
    with anyio.fail_after(10):  # a disconnect that cancelled nothing would hang here
        async with anyio.create_task_group() as tg:
            async def hang() -> None:
                out = await call(b'{"args": ["hang"], "kwargs": {}}', gone)
                assert out[0]["status"] == 499

            tg.start_soon(hang)
            await anyio.sleep(0.1)  # the module is in its sleep by now
            assert finished == ["ok"]
            gone.set()
    assert finished == ["ok", "hang"] and tasks() == before
