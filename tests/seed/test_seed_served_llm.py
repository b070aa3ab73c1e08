"""The seed's LLM builders on the served form: ``prompt()`` sets the served LLM's prompt,
``formatter()`` shapes the output on the client, ``share()`` / ``|`` make new clients of the same
server (new id, own formatter)."""

from __future__ import annotations

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY

import asyncllm as al

pytestmark = pytest.mark.anyio


def llm(fake: FakeServer) -> al.OnlineChatModuleBase:
    return al.OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=DEFAULT_KEY, stream=False)


async def test_prompt_reaches_the_served_llm(fake: FakeServer) -> None:
    s = al.ServerModule(llm(fake)).prompt("You answer tersely.")
    async with s:
        assert await s("hi") == "fake reply to: hi"
    messages = fake.state.requests[-1]["body"]["messages"]
    assert messages[0]["role"] == "system" and "You answer tersely." in messages[0]["content"]
    with pytest.raises(al.ConfigError, match="set on the module where it is served"):
        al.UrlModule(url="http://127.0.0.1:9").prompt("x")


async def test_formatter_and_share_work_on_the_client(fake: FakeServer) -> None:
    s = al.ServerModule(llm(fake))
    shout = s.share(format=lambda text: text.upper())  # made before start: follows the server
    words = s | (lambda text: text.split())
    async with s:
        assert await s("hi") == "fake reply to: hi"
        assert await shout("hi") == "FAKE REPLY TO: HI"
        assert await words("hi") == ["fake", "reply", "to:", "hi"]
        assert shout.id != s.id and shout.url == s.url
        await shout.stop()  # a share never stops the server it shares
        assert await s("again") == "fake reply to: again"
