"""Reasoning arrives under each provider's own field name and must come out as ``think`` chunks,
never as the answer (issue #18, defect 4). The fake sends each flavour's field: ``reasoning``
for vLLM and SenseNova, ``reasoning_details`` for MiniMax with ``reasoning_split``, and
``<think>…</think>`` inside MiniMax's content without it (see fakeprovider/dialects.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

from asyncllm.online import OnlineChatModule
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

SOURCES = {"vllm": "/vllm/v1/", "sensenova": "/sensenova/v1/", "minimax": "/minimax/v1/", "deepseek": "/"}


async def _think_and_text(chat: Any, query: str) -> tuple[str, str]:
    chunks = [c async for c in chat.stream(query)]
    return ("".join(c for c in chunks if c.tag == "think"), "".join(c for c in chunks if c.tag == "text"))


@pytest.mark.parametrize("source", list(SOURCES))
@pytest.mark.parametrize("stream", [True, False])
async def test_reasoning_is_think_not_answer(fake: FakeServer, source: str, stream: bool) -> None:
    chat = OnlineChatModule(source=source, model="fake-reasoner", base_url=fake + SOURCES[source], api_key=KEY,
                            stream=stream)
    think, text = await _think_and_text(chat, "why")
    assert think.strip() == "thinking about: why"
    assert text == "fake reply to: why"
    full = await chat.share(format=FunctionCallFormatter())("why")
    assert full["content"] == "fake reply to: why"
    assert full["reasoning_content"].strip() == "thinking about: why"


@pytest.mark.parametrize("stream", [True, False])
async def test_minimax_asks_for_split_reasoning(fake: FakeServer, stream: bool) -> None:
    chat = OnlineChatModule(source="minimax", model="MiniMax-M2", base_url=fake + "/minimax/v1/", api_key=KEY,
                            stream=stream)
    await chat("hi")
    assert fake.state.requests[-1]["body"]["reasoning_split"] is True


@pytest.mark.parametrize("stream", [True, False])
async def test_minimax_inline_think_tags_are_split_out(fake: FakeServer, stream: bool) -> None:
    # a caller who turns reasoning_split off gets <think>…</think> inside content from MiniMax
    chat = OnlineChatModule(source="minimax", model="fake-reasoner", base_url=fake + "/minimax/v1/", api_key=KEY,
                            stream=stream, static_params={"reasoning_split": False})
    think, text = await _think_and_text(chat, "how")
    assert fake.state.requests[-1]["body"]["reasoning_split"] is False
    assert "<think>" not in text and "</think>" not in text
    assert text == "fake reply to: how"
    assert think.strip() == "thinking about: how"
