"""Qwen3 open-source models think by default and DashScope refuses a non-streamed call to them
unless ``enable_thinking`` is false (issue #18, defect 6; the fake enforces the rule:
fakeprovider/rules.py)."""

from __future__ import annotations

from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule

pytestmark = pytest.mark.anyio


def qwen(fake: FakeServer, model: str, **kw: Any) -> Any:
    return OnlineChatModule(source="qwen", model=model, base_url=fake + "/compatible-mode/v1/", api_key=KEY, **kw)


@pytest.mark.parametrize("model", ["qwen3-8b", "qwen3-0.6b", "qwen3-30b-a3b", "Qwen3-235B-A22B"])
async def test_a_non_streamed_call_to_an_open_qwen3_turns_thinking_off(fake: FakeServer, model: str) -> None:
    assert await qwen(fake, model, stream=False)("hi") == "fake reply to: hi"
    assert fake.state.requests[-1]["body"]["enable_thinking"] is False


@pytest.mark.parametrize(("model", "stream"), [("qwen3-8b", True), ("qwen-plus", False), ("qwen3-max", False),
                                               ("qwen3-235b-a22b-instruct-2507", False)])
async def test_other_calls_are_left_alone(fake: FakeServer, model: str, stream: bool) -> None:
    assert await qwen(fake, model, stream=stream)("hi") == "fake reply to: hi"
    assert "enable_thinking" not in fake.state.requests[-1]["body"]


async def test_the_callers_own_switch_is_sent_as_given(fake: FakeServer) -> None:
    with pytest.raises(al.BadRequestError, match="enable_thinking must be set to false"):
        await qwen(fake, "qwen3-8b", stream=False, static_params={"enable_thinking": True})("hi")
