"""Dynamic auth (``api_key="dynamic"`` / ``dynamic_auth=True``): the key is read per call from
the running task's settings (``al.config.override``), else the environment; concurrent tasks
each send their own key. Against the fake provider, which records a fingerprint of each key."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY, SENSENOVA_AK, SENSENOVA_SK, key_tag

import asyncllm as al
from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

KA = "sk-user-a-AAAAAAAAAAAAAAAAAAAA"
KB = "sk-user-b-BBBBBBBBBBBBBBBBBBBB"


@pytest.fixture
def users(fake: FakeServer) -> FakeServer:
    fake.state.keys |= {KA, KB}
    return fake


def by_prompt(fake: FakeServer) -> dict[str, str]:
    """The key tag each chat request carried, by the prompt it sent."""
    return {r["body"]["messages"][-1]["content"]: r["key"] for r in fake.state.requests}


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("how", [{"api_key": "dynamic"}, {"dynamic_auth": True}])
async def test_concurrent_tasks_each_send_their_own_key(users: FakeServer, stream: bool,
                                                        how: dict[str, Any]) -> None:
    m = OnlineChatModule(source="openai", base_url=users + "/v1/", stream=stream, **how)
    both_inside = anyio.Event()
    inside = 0
    answers: dict[str, str] = {}

    async def user(name: str, key: str) -> None:
        nonlocal inside
        with al.config.override(openai_api_key=key):
            inside += 1
            if inside == 2:
                both_inside.set()
            await both_inside.wait()  # both overrides are live at once before either calls
            for i in range(3):
                answers[f"{name}{i}"] = await m(f"{name}{i}")

    async with anyio.create_task_group() as tg:
        tg.start_soon(user, "a", KA)
        tg.start_soon(user, "b", KB)
    assert answers == {p: f"fake reply to: {p}" for p in ("a0", "a1", "a2", "b0", "b1", "b2")}
    seen = by_prompt(users)
    assert {seen[f"a{i}"] for i in range(3)} == {key_tag(KA)}
    assert {seen[f"b{i}"] for i in range(3)} == {key_tag(KB)}


async def test_tasks_started_inside_an_override_inherit_it(users: FakeServer) -> None:
    m = OnlineChatModule(source="openai", base_url=users + "/v1/", api_key="dynamic", stream=False)
    with al.config.override(openai_api_key=KA):
        async with anyio.create_task_group() as tg:
            for i in range(3):
                tg.start_soon(m, f"child{i}")
    assert set(by_prompt(users).values()) == {key_tag(KA)}
    assert len(users.state.requests) == 3


async def test_falls_back_to_the_environment_key(users: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    m = OnlineChatModule(source="openai", base_url=users + "/v1/", api_key="dynamic", stream=False)
    monkeypatch.setenv("OPENAI_API_KEY", DEFAULT_KEY)  # set after construction: read per call
    await m("env")
    with al.config.override(openai_api_key=KB):
        await m("session")
    assert by_prompt(users) == {"env": key_tag(DEFAULT_KEY), "session": key_tag(KB)}


async def test_a_missing_key_at_call_time_names_the_variable(users: FakeServer) -> None:
    m = OnlineChatModule(source="openai", base_url=users + "/v1/", api_key="dynamic")
    assert "auth=dynamic" in repr(m)
    with pytest.raises(al.ConfigError) as info:
        await m("hi")
    msg = str(info.value)
    assert "OPENAI_API_KEY" in msg and "config.override(openai_api_key=" in msg
    assert users.state.requests == []


async def test_a_wrong_session_key_is_the_typed_error_without_the_key(users: FakeServer) -> None:
    wrong = "sk-wrong-session-key-ZZZZZZZZZZ"
    m = OnlineChatModule(source="openai", base_url=users + "/v1/", api_key="dynamic", max_retries=0)
    with al.config.override(openai_api_key=wrong), pytest.raises(al.AuthenticationError) as info:
        await m("hi")
    assert wrong not in str(info.value) and wrong not in repr(m)
    assert len(users.state.requests) == 1


async def test_claude_and_embeddings_and_sensenova_read_the_session_key(users: FakeServer) -> None:
    claude = OnlineChatModule(source="claude", base_url=users + "/v1/", api_key="dynamic", stream=False)
    emb = OnlineEmbeddingModule(source="openai", embed_url=users + "/v1/", api_key="dynamic")
    with al.config.override(claude_api_key=KA, openai_api_key=KB):
        assert await claude("c") == "fake reply to: c"
        assert await emb("e")
    assert [r["key"] for r in users.state.requests] == [key_tag(KA), key_tag(KB)]
    nova = OnlineChatModule(source="sensenova", base_url=users + "/sensenova/v1/", dynamic_auth=True,
                            stream=False)
    with al.config.override(sensenova_api_key=f"{SENSENOVA_AK}:{SENSENOVA_SK}"):
        assert await nova("n") == "fake reply to: n"  # an ak:sk pair from the session makes a JWT


async def test_contradictory_auth_arguments_are_config_errors() -> None:
    with pytest.raises(al.ConfigError, match="dynamic_auth"):
        OnlineChatModule(source="openai", api_key="sk-x", dynamic_auth=True)
    with pytest.raises(al.ConfigError, match="skip_auth"):
        OnlineChatModule(source="openai", api_key="dynamic", skip_auth=True)
