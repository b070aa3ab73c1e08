"""The official ``anthropic`` SDK (2.14.0) as the oracle for Claude's Messages API.

(a) the SDK against the fake: messages, streams with thinking (signature included) and tool
    use, the round trip of a signed thinking block, errors before and inside a stream;
(b) asyncllm and the SDK make the same call; the fake's two records must agree.

Two differences are deliberate and checked as such: the SDK sends the key as ``Authorization:
Bearer`` (anthropic 2.14 ``_client.py:377``) where asyncllm sends ``x-api-key`` (still the
documented header: https://docs.anthropic.com/en/api/overview), and the SDK pins
``anthropic-version: 2026-10-21`` (``_constants.py:7``) where asyncllm stays on ``2023-06-01``:
versions are preserved (https://platform.claude.com/docs/en/api/versioning), and 2026-10-21
removes ``temperature``/``top_p``/``top_k``, which asyncllm callers pass through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anthropic
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from fakeprovider.state import key_tag
from sdk_oracle import assert_same_request, requests_to, sdk, system_text

from asyncllm.online import OnlineChatModule
from asyncllm.prompts import FunctionCallFormatter

pytestmark = pytest.mark.anyio

MODEL = "claude-sonnet-5-5"  # not in the SDK's deprecated list (a DeprecationWarning fails the suite)
TOOL = {"name": "get_weather", "description": "the weather in a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}
OPENAI_TOOL = [{"type": "function", "function": {"name": TOOL["name"], "description": TOOL["description"],
                                                 "parameters": TOOL["input_schema"]}}]
THINKING = {"type": "enabled", "budget_tokens": 1024}


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> anthropic.Anthropic:
    return closing(anthropic.Anthropic(api_key=KEY, base_url=fake, max_retries=0))  # type: ignore[no-any-return]


# -- (a) the SDK against the fake ----------------------------------------------------------------


def test_the_default_model_is_not_one_the_sdk_calls_deprecated() -> None:
    from anthropic._data import DEPRECATED_MODELS  # what the SDK warns about (anthropic 2.14 _data/)

    from asyncllm.online.claude import ClaudeChat

    assert ClaudeChat.default_model not in DEPRECATED_MODELS


async def test_the_sdk_parses_messages_and_streams(client: anthropic.Anthropic, fake: FakeServer) -> None:
    def run() -> tuple[Any, Any, list[str]]:
        whole = client.messages.create(model=MODEL, max_tokens=100, messages=[{"role": "user", "content": "hi"}])
        with client.messages.stream(model=MODEL, max_tokens=100,
                                    messages=[{"role": "user", "content": "one two"}]) as s:
            pieces = list(s.text_stream)
            final = s.get_final_message()
        return whole, final, pieces

    whole, final, pieces = await sdk(run)
    assert whole.content[0].text == "fake reply to: hi" and whole.stop_reason == "end_turn"
    assert "".join(pieces) == "fake reply to: one two" and len(pieces) > 2
    assert final.usage.input_tokens > 0 and final.usage.output_tokens > 0


async def test_a_signed_thinking_block_survives_the_sdks_round_trip(client: anthropic.Anthropic) -> None:
    def run() -> tuple[Any, Any]:
        with client.messages.stream(model=MODEL, max_tokens=2000, thinking=THINKING, tools=[TOOL],  # type: ignore
                                    messages=[{"role": "user", "content": "Paris?"}]) as s:
            first = s.get_final_message()
        use = next(b for b in first.content if b.type == "tool_use")
        second = client.messages.create(
            model=MODEL, max_tokens=2000, thinking=THINKING, tools=[TOOL],  # type: ignore[arg-type]
            messages=[{"role": "user", "content": "Paris?"},
                      {"role": "assistant", "content": first.content},  # type: ignore[typeddict-item]
                      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id,
                                                    "content": "sunny"}]}])
        return first, second

    first, second = await sdk(run)
    thinking = first.content[0]
    assert thinking.type == "thinking" and thinking.signature  # assembled from signature_delta
    assert second.content[-1].text == "fake reply to tool results: sunny"


async def test_the_sdk_raises_on_an_error_event_inside_the_stream(client: anthropic.Anthropic) -> None:
    def run() -> list[str]:
        with client.messages.stream(model="fake-chat fault=error-mid", max_tokens=100,
                                    messages=[{"role": "user", "content": "one two three"}]) as s:
            return list(s.text_stream)

    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        await sdk(run)


async def test_the_sdk_reads_the_fakes_errors(client: anthropic.Anthropic, fake: FakeServer) -> None:
    def call(model: str, content: str = "x") -> Any:
        return client.messages.create(model=model, max_tokens=10, messages=[{"role": "user", "content": content}])

    with pytest.raises(anthropic.BadRequestError, match="credit balance"):
        await sdk(call, "fake-chat fault=quota")
    with pytest.raises(anthropic.BadRequestError, match="non-whitespace"):
        await sdk(call, MODEL, "  ")
    with pytest.raises(anthropic.RateLimitError):
        await sdk(call, "fake-chat fault=429")


# -- (b) asyncllm and the SDK send the same request ----------------------------------------------


def _pair(fake: FakeServer) -> tuple[dict[str, Any], dict[str, Any]]:
    ours, theirs = requests_to(fake, "/v1/messages")[-2:]
    # the key travels in different headers (see the module docstring), but it is the same key
    assert ours["key"] == theirs["key"] == key_tag(KEY)
    assert "anthropic-version" in ours["headers"] and "anthropic-version" in theirs["headers"]
    return ours, theirs


@pytest.mark.parametrize("stream", [True, False])
async def test_a_conversation_matches_the_sdk(client: anthropic.Anthropic, fake: FakeServer, stream: bool) -> None:
    chat = OnlineChatModule(source="claude", model=MODEL, base_url=fake + "/v1/", api_key=KEY, stream=stream)
    await chat.prompt("Be brief.")("hello", llm_chat_history=[["earlier", "an answer"]], max_tokens=300,
                                   stop="END", top_k=5)

    def run() -> None:
        # Claude's system field: the module's system prompt (Claude's default), then the instruction
        out = client.messages.create(model=MODEL, max_tokens=300, system=system_text(chat, "Be brief."),
                                     stop_sequences=["END"],
                                     extra_body={"top_k": 5}, stream=stream,
                                     messages=[{"role": "user", "content": "earlier"},
                                               {"role": "assistant", "content": [{"type": "text",
                                                                                  "text": "an answer"}]},
                                               {"role": "user", "content": "hello"}])
        if stream:
            list(out)  # type: ignore[call-overload]

    await sdk(run)
    ours, theirs = _pair(fake)
    assert_same_request(ours, theirs, same_key=False)


@pytest.mark.parametrize("stream", [True, False])
async def test_thinking_and_tool_round_trip_matches_the_sdk(client: anthropic.Anthropic, fake: FakeServer,
                                                           stream: bool) -> None:
    chat = OnlineChatModule(source="claude", model=MODEL, base_url=fake + "/v1/", api_key=KEY, stream=stream,
                            static_params={"thinking": THINKING, "max_tokens": 2000})
    chat.formatter(FunctionCallFormatter())
    first = await chat("Paris?", tools=OPENAI_TOOL, tool_choice="auto")
    call = first["tool_calls"][0]
    await chat([{"role": "user", "content": "Paris?"}, first,
                {"role": "tool", "tool_call_id": call["id"], "content": "sunny"}], tools=OPENAI_TOOL)
    ours_first, ours_second = requests_to(fake, "/v1/messages")

    def run() -> None:
        kw: dict[str, Any] = {"model": MODEL, "max_tokens": 2000, "thinking": THINKING, "tools": [TOOL],
                              "system": system_text(chat)}
        question: list[Any] = [{"role": "user", "content": "Paris?"}]
        if stream:
            with client.messages.stream(tool_choice={"type": "auto"}, messages=question, **kw) as s:
                answer = s.get_final_message()
        else:
            answer = client.messages.create(tool_choice={"type": "auto"}, messages=question, stream=False, **kw)
        # the SDK's documented round trip: the assistant content exactly as it came, then the results
        use = next(b for b in answer.content if b.type == "tool_use")
        follow_up = [*question, {"role": "assistant", "content": answer.content},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": use.id, "content": "sunny"}]}]
        if stream:
            with client.messages.stream(messages=follow_up, **kw) as s:
                s.get_final_message()
        else:
            client.messages.create(messages=follow_up, stream=False, **kw)

    await sdk(run)
    theirs_first, theirs_second = requests_to(fake, "/v1/messages")[2:]
    assert_same_request(ours_first, theirs_first, same_key=False)
    assert_same_request(ours_second, theirs_second, same_key=False)
    # the assistant turn asyncllm sent back is the one Claude answered: thinking (signed) first
    sent = ours_second["body"]["messages"][1]["content"]
    assert [b["type"] for b in sent] == ["thinking", "tool_use"] and sent[0]["signature"]


async def test_a_system_prompt_goes_where_the_sdk_puts_system(client: anthropic.Anthropic, fake: FakeServer) -> None:
    chat = OnlineChatModule(source="claude", model=MODEL, base_url=fake + "/v1/", api_key=KEY, stream=False,
                            system_prompt="Answer in French.")
    await chat("hello", max_tokens=100)
    await sdk(lambda: client.messages.create(model=MODEL, max_tokens=100, system="Answer in French.", stream=False,
                                             messages=[{"role": "user", "content": "hello"}]))
    ours, theirs = _pair(fake)
    assert_same_request(ours, theirs, same_key=False)
