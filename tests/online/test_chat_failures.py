"""Failure paths surfaced through the chat module: retries, auth, stalls, early stops, broken
streams; and API keys never showing up in reprs, messages or tracebacks."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineChatModuleBase

pytestmark = pytest.mark.anyio

WRONG = "sk-wrong-0123456789abcdefSECRET"

# On trio, closing an httpx response mid-body leaves httpcore's inner body generators to the
# garbage collector, which trio reports as a ResourceWarning. That belongs to the HTTP layer
# (reported there); these tests are about what the module surfaces, so they tolerate it.
MID_BODY_CLOSE = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def chat(fake: FakeServer, source: str = "openai", **kw: Any) -> OnlineChatModuleBase:
    path = {"openai": "/v1/", "claude": "/v1/", "qwen": "/compatible-mode/v1/"}[source]
    kw.setdefault("api_key", KEY)
    return OnlineChatModule(source=source, base_url=fake + path, retry_backoff=0.01, **kw)


def paths(fake: FakeServer, suffix: str) -> int:
    return sum(1 for r in fake.state.requests if r["path"].endswith(suffix))


@pytest.mark.parametrize("source", ["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("status", ["429", "503"])
async def test_retryable_status_is_retried_then_succeeds(fake: FakeServer, source: str, stream: bool,
                                                         status: str) -> None:
    m = chat(fake, source, model=f"fake-chat fault={status}:1", stream=stream)
    assert await m("hi") == "fake reply to: hi"
    assert paths(fake, "/chat/completions" if source == "openai" else "/messages") == 2


async def test_retries_are_bounded(fake: FakeServer) -> None:
    m = chat(fake, model="fake-chat fault=429:10", max_retries=2)
    with pytest.raises(al.RateLimitError) as info:
        await m("hi")
    assert info.value.status_code == 429
    assert paths(fake, "/chat/completions") == 3


async def test_quota_exhausted_is_not_retried(fake: FakeServer) -> None:
    with pytest.raises(al.QuotaExceededError):
        await chat(fake, model="fake-chat fault=quota")("hi")
    assert paths(fake, "/chat/completions") == 1


@pytest.mark.parametrize("source", ["openai", "claude", "qwen"])
@pytest.mark.parametrize("stream", [True, False])
async def test_wrong_key_is_authentication_error_without_the_key(fake: FakeServer, source: str, stream: bool,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    m = chat(fake, source, api_key=WRONG, stream=stream)
    assert WRONG not in repr(m) and WRONG not in str(vars(m))
    with pytest.raises(al.AuthenticationError) as info:
        await m("hi")
    assert info.value.status_code == 401
    rendered = "".join(traceback.format_exception(info.value))
    assert WRONG not in rendered and WRONG[3:] not in rendered
    # OpenAI-style providers echo a masked key ("sk-***yz"); even its head and tail are removed.
    assert "***" + WRONG[-2:] not in rendered and WRONG[:3] + "***" not in rendered
    if source == "openai":
        assert "Incorrect API key provided: ***." in rendered
    assert WRONG not in caplog.text
    assert paths(fake, "") == 1  # 401 is not retried


@pytest.mark.parametrize("stream", [True, False])
async def test_stall_before_first_chunk_is_a_timeout(fake: FakeServer, stream: bool) -> None:
    m = chat(fake, model="fake-chat fault=stall-first", first_chunk_timeout=0.3, stream=stream)
    with anyio_fail_after(10), pytest.raises(al.APITimeoutError) as info:
        await m("hi")
    assert info.value.kind in ("first_chunk", "total")


async def test_stall_mid_stream_is_an_idle_timeout_after_partial_output(fake: FakeServer) -> None:
    m = chat(fake, model="fake-chat fault=stall-mid", idle_timeout=0.3)
    got: list[str] = []
    with anyio_fail_after(10), pytest.raises(al.APITimeoutError) as info:
        async for c in m.stream("one two three four five"):
            got.append(c)
    assert info.value.kind == "idle"
    assert got  # what arrived before the stall was delivered


@pytest.mark.parametrize("source", ["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
async def test_length_stop_is_incomplete_output_with_partial(fake: FakeServer, source: str, stream: bool) -> None:
    m = chat(fake, source, model="fake-chat fault=length", stream=stream)
    with pytest.raises(al.IncompleteOutputError) as info:
        await m("one two three four")
    err = info.value
    assert not isinstance(err, al.ContentFilteredError)
    assert err.finish_reason == "length"
    assert err.partial and "fake reply to: one two three four".startswith(err.partial)


@pytest.mark.parametrize("source", ["openai", "claude"])
async def test_content_filter_is_content_filtered_error(fake: FakeServer, source: str) -> None:
    with pytest.raises(al.ContentFilteredError) as info:
        await chat(fake, source, model="fake-chat fault=content_filter")("a b c d")
    assert info.value.partial


@MID_BODY_CLOSE
async def test_malformed_frame_is_protocol_error_and_drop_is_connection_error(fake: FakeServer) -> None:
    with pytest.raises(al.ProtocolError):
        await chat(fake, model="fake-chat fault=malformed")("a b c d e")
    with pytest.raises(al.APIConnectionError):
        await chat(fake, model="fake-chat fault=drop")("a b c d e")


async def test_connection_refused_is_connection_error(fake: FakeServer) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    m = OnlineChatModule(source="openai", base_url=f"http://127.0.0.1:{port}/v1/", api_key=KEY, max_retries=0)
    with pytest.raises(al.APIConnectionError):
        await m("hi")


@MID_BODY_CLOSE
async def test_leaving_a_stream_early_closes_the_response(fake: FakeServer) -> None:
    m = chat(fake)
    async with m.stream("one two three four five six") as s:
        async for _ in s:
            break
    with anyio_fail_after(5):
        while fake.state.streams_open:
            await al_sleep(0.01)
    assert fake.state.streams_closed >= 1


def anyio_fail_after(seconds: float) -> Any:
    import anyio

    return anyio.fail_after(seconds)


async def al_sleep(seconds: float) -> None:
    import anyio

    await anyio.sleep(seconds)


@MID_BODY_CLOSE
@pytest.mark.parametrize("stream", [True, False])
async def test_cancelling_a_call_closes_its_response(fake: FakeServer, stream: bool) -> None:
    import anyio

    m = chat(fake, model="fake-chat fault=stall-mid", stream=stream)
    async with anyio.create_task_group() as tg:
        tg.start_soon(m, "one two three four five")
        with anyio.fail_after(10):
            while fake.state.streams_open == 0:  # the answer has started and then stalls
                await anyio.sleep(0.01)
        tg.cancel_scope.cancel()
    assert fake.state.stream_closed is not None
    with anyio.fail_after(5):
        await fake.state.stream_closed.wait()  # the server saw the client go away
    assert fake.state.disconnects == 1 and fake.state.streams_open == 0
