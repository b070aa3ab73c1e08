"""Several API keys per module: round-robin, a rejected key set aside and the call retried on the
next key, every key bad → the typed error; keys never in reprs, messages or logs. Against the
fake provider, which records a fingerprint of the key each request carried."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, SENSENOVA_AK, SENSENOVA_SK, key_tag

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

K0 = DEFAULT_KEY
K1 = "sk-second-key-AAAAAAAAAAAAAAAA"
K2 = "sk-third-key-BBBBBBBBBBBBBBBBB"
KEYS = [K0, K1, K2]

CHAT_PATH = {"openai": "/v1/", "claude": "/v1/", "qwen": "/compatible-mode/v1/"}


@pytest.fixture
def three_keys(fake: FakeServer) -> FakeServer:
    fake.state.keys |= {K1, K2}
    return fake


def chat(fake: FakeServer, source: str = "openai", **kw: Any) -> Any:
    kw.setdefault("api_key", KEYS)
    return OnlineChatModule(source=source, base_url=fake + CHAT_PATH[source], retry_backoff=0.01, **kw)


def used(fake: FakeServer) -> list[str]:
    """Which of KEYS each request carried (its index), in order; '?' for another key."""
    tags = {key_tag(k): str(i) for i, k in enumerate(KEYS)}
    return [tags.get(r["key"], "?") for r in fake.state.requests]


@pytest.mark.parametrize("source", ["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
async def test_requests_go_round_robin_over_the_keys(three_keys: FakeServer, source: str, stream: bool) -> None:
    m = chat(three_keys, source, stream=stream)
    for i in range(6):
        assert await m(f"q{i}") == f"fake reply to: q{i}"
    assert used(three_keys) == ["0", "1", "2", "0", "1", "2"]


@pytest.mark.parametrize("source", ["openai", "claude"])
@pytest.mark.parametrize("stream", [True, False])
async def test_a_revoked_key_is_retried_on_the_next_then_skipped(three_keys: FakeServer, source: str,
                                                                 stream: bool) -> None:
    three_keys.state.keys.discard(K1)
    m = chat(three_keys, source, stream=stream)
    for i in range(4):
        assert await m(f"q{i}") == f"fake reply to: q{i}"  # the caller never sees the bad key
    # key 1 answered 401 once (retried at once on key 2), then was never sent again
    assert used(three_keys) == ["0", "1", "2", "0", "2"]


async def test_streamed_tokens_arrive_after_a_retry_on_the_next_key(three_keys: FakeServer) -> None:
    three_keys.state.keys.discard(K0)
    m = chat(three_keys)
    chunks = [c async for c in m.stream("one two three")]
    assert "".join(chunks) == "fake reply to: one two three" and len(chunks) > 2
    assert used(three_keys) == ["0", "1"]


async def test_a_shared_copy_shares_the_set_aside_keys(three_keys: FakeServer) -> None:
    three_keys.state.keys.discard(K1)
    m = chat(three_keys, stream=False)
    copy = m.share(prompt="be brief")
    assert await m("a") == "fake reply to: a"  # key 0
    assert await m("b") == "fake reply to: b"  # key 1 refused, retried on key 2, key 1 set aside
    assert await copy("c") == "fake reply to: c"
    assert await copy("d") == "fake reply to: d"
    assert used(three_keys) == ["0", "1", "2", "0", "2"]  # the copy never tries key 1 again


@pytest.mark.parametrize("fault", ["quota", "403"])
async def test_quota_and_permission_errors_also_set_the_key_aside(three_keys: FakeServer, fault: str) -> None:
    m = chat(three_keys, api_key=[K0, K1], model=f"fake-chat fault={fault}:1", stream=False)
    assert await m("a") == "fake reply to: a"
    assert await m("b") == "fake reply to: b"
    assert used(three_keys) == ["0", "1", "1"]


async def test_other_errors_do_not_set_a_key_aside(three_keys: FakeServer) -> None:
    m = chat(three_keys, api_key=[K0, K1], model="fake-chat fault=400:1", stream=False)
    with pytest.raises(al.BadRequestError):
        await m("a")
    assert await m("b") == "fake reply to: b"
    assert await m("c") == "fake reply to: c"
    assert used(three_keys) == ["0", "1", "0"]


@pytest.mark.parametrize("stream", [True, False])
async def test_every_key_bad_raises_the_typed_error_without_any_key(fake: FakeServer, stream: bool,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.state.keys.clear()
    m = chat(fake, stream=stream)
    with pytest.raises(al.AuthenticationError) as info:
        await m("hi")
    assert len(fake.state.requests) == 2  # one retry on the next key, not a sweep of all of them
    rendered = "".join(traceback.format_exception(info.value)) + repr(info.value) + str(info.value)
    shown = repr(m) + str(m) + str(vars(m)) + rendered + caplog.text
    for k in KEYS:
        assert k not in shown and k[3:] not in shown
    assert "set aside" in rendered  # the note says what happened, by key number only
    assert "3 keys" in repr(m)


async def test_when_every_key_was_set_aside_all_are_tried_again(three_keys: FakeServer) -> None:
    three_keys.state.keys.clear()
    m = chat(three_keys, api_key=[K0, K1])
    with pytest.raises(al.AuthenticationError):
        await m("a")
    three_keys.state.keys |= {K0, K1}  # keys restored (a quota refilled, say)
    assert await m("b") == "fake reply to: b"
    assert await m("c") == "fake reply to: c"
    assert used(three_keys) == ["0", "1", "0", "1"]


async def test_embeddings_and_rerank_use_the_pool(three_keys: FakeServer) -> None:
    three_keys.state.keys.discard(K1)
    emb = OnlineEmbeddingModule(source="openai", embed_url=three_keys + "/v1/", api_key=KEYS)
    for t in ("a", "b", "c"):
        assert len(await emb(t)) > 0
    assert used(three_keys) == ["0", "1", "2", "0"]
    three_keys.state.requests.clear()
    rr = OnlineEmbeddingModule(source="qwen", type="rerank", embed_url=three_keys + "/", api_key=[K1, K2])
    assert len(await rr("q", documents=["x", "y"])) == 2
    assert len(await rr("q", documents=["x", "y"])) == 2
    assert used(three_keys) == ["1", "2", "2"]


async def test_sensenova_takes_several_access_key_pairs(fake: FakeServer) -> None:
    good = f"{SENSENOVA_AK}:{SENSENOVA_SK}"
    m = OnlineChatModule(source="sensenova", base_url=fake + "/sensenova/v1/", api_key=["bad-ak:bad-sk", good],
                         stream=False)
    assert await m("hi") == "fake reply to: hi"
    assert await m("again") == "fake reply to: again"
    assert len(fake.state.requests) == 3  # the bad pair once, then only the good one
    with pytest.raises(al.ConfigError, match="secret_key"):
        OnlineChatModule(source="sensenova", api_key=["ak1", "ak2"], secret_key="sk")


async def test_single_key_headers_are_built_once(fake: FakeServer) -> None:
    m = chat(fake, api_key=K0)
    assert m._auth_headers() is m._auth_headers()
    pool = chat(fake)
    assert pool._auth_headers() is not pool._auth_headers()  # the next key's (each cached too)


@pytest.mark.parametrize("bad", [[], (), [""], ["sk-a", 3]])
async def test_a_bad_key_list_is_a_config_error(bad: Any) -> None:
    with pytest.raises(al.ConfigError, match="api_key"):
        OnlineChatModule(source="openai", api_key=bad)
    with pytest.raises(al.ConfigError, match="api_key"):
        OnlineEmbeddingModule(source="openai", api_key=bad)
