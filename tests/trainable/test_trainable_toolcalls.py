"""Tool calls parsed from raw model text (spec §5.3), and the stream gate that hides them."""

from __future__ import annotations

import json

import pytest

from asyncllm.trainable import ToolTokenGate, family_of, parse_tool_calls, to_openai_calls

TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {}}},
         {"type": "function", "function": {"name": "search", "parameters": {}}}]


def test_start_and_args_tokens_like_lazyllm() -> None:
    text = 'I will call.<|function|>get_weather<|args|>{"city": "BJ"}<|action_end|>'
    content, calls = parse_tool_calls(text, tool_start_token="<|function|>", tool_args_token="<|args|>",
                                      tool_end_token="<|action_end|>")
    assert content == "I will call."
    assert calls == [{"name": "get_weather", "arguments": {"city": "BJ"}}]


def test_several_calls_and_nested_json_strings() -> None:
    inner = json.dumps(json.dumps({"q": "x"}))  # arguments encoded twice
    text = f"a<|function|>search<|args|>{inner}<|action_end|><|function|>get_weather<|args|>{{}}<|action_end|>"
    _, calls = parse_tool_calls(text, tool_start_token="<|function|>", tool_args_token="<|args|>",
                                tool_end_token="<|action_end|>")
    assert calls == [{"name": "search", "arguments": {"q": "x"}}, {"name": "get_weather", "arguments": {}}]


def test_smollm2_json_list_between_tool_tokens() -> None:
    fam = family_of("SmolLM2-135M-Instruct")
    text = ('<tool_call>[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
            '{"name": "search", "arguments": {"q": "news"}}]</tool_call>')
    content, calls = parse_tool_calls(text, **fam.tool_keys)
    assert content == ""
    assert [c["name"] for c in calls] == ["get_weather", "search"]
    assert calls[0]["arguments"] == {"city": "Paris"}


def test_hermes_object_with_parameters_key_and_python_literal() -> None:
    fam = family_of("Qwen2.5-7B-Instruct")
    text = "sure\n<tool_call>\n{'name': 'get_weather', 'parameters': {'city': 'Rome', 'metric': True}}\n</tool_call>"
    content, calls = parse_tool_calls(text, **fam.tool_keys)
    assert content == "sure\n"
    assert calls == [{"name": "get_weather", "arguments": {"city": "Rome", "metric": True}}]


def test_malformed_call_json_is_dropped_not_raised() -> None:
    content, calls = parse_tool_calls("x<tool_call>{not json</tool_call>", tool_start_token="<tool_call>",
                                      tool_end_token="</tool_call>")
    assert content == "x" and calls == []


def test_tool_name_line_then_json_arguments() -> None:
    text = "Let me check.\nget_weather\n{\"city\": \"Oslo\"}"
    content, calls = parse_tool_calls(text, tools=TOOLS)
    assert content == "Let me check."
    assert calls == [{"name": "get_weather", "arguments": '{"city": "Oslo"}'}]  # kept as text, as in the spec


def test_json_line_naming_a_known_tool() -> None:
    text = 'thinking\n{"name": "search", "arguments": {"q": "a"}}\n{"name": "unknown", "arguments": {}}'
    content, calls = parse_tool_calls(text, tools=TOOLS)
    assert calls == [{"name": "search", "arguments": {"q": "a"}}]
    assert content == 'thinking\n{"name": "unknown", "arguments": {}}'


def test_without_tools_or_tokens_everything_is_content() -> None:
    text = '{"name": "search", "arguments": {}}'
    assert parse_tool_calls(text) == (text, [])


def test_openai_shape() -> None:
    out = to_openai_calls([{"name": "f", "arguments": {"a": 1}}, {"name": "g", "arguments": "raw"}])
    assert [o["function"] for o in out] == [{"name": "f", "arguments": '{"a": 1}'}, {"name": "g", "arguments": "raw"}]
    assert all(o["type"] == "function" and o["id"].startswith("call_") for o in out)
    assert out[0]["id"] != out[1]["id"]


@pytest.mark.parametrize("pieces", [
    ["Hello ", "<tool", "_call>[{", '"name": "f"}]', "</tool_call>"],
    ["Hello <", "t", "ool_call>", "x"],
    ["Hello <tool_call>x"],
])
def test_gate_never_shows_call_markup(pieces: list[str]) -> None:
    gate = ToolTokenGate("<tool_call>")
    shown = "".join(gate.feed(p) for p in pieces) + gate.flush()
    assert shown == "Hello " and gate.tripped


def test_gate_releases_a_false_alarm() -> None:
    gate = ToolTokenGate("<tool_call>")
    assert gate.feed("a <to") == "a "
    assert gate.feed("p> b") == "<top> b"
    assert gate.feed("<") == ""
    assert gate.flush() == "<" and not gate.tripped


def test_families() -> None:
    assert family_of("all-MiniLM-L6-v2").type == "embed"
    assert family_of("bge-reranker-base").type == "rerank"
    assert family_of("internlm2-chat-7b").tool_start_token == "<|action_start|><|plugin|>"
    assert family_of("mystery-model").name == "generic" and not family_of("mystery-model").tool_keys
    prompt = family_of("smollm2").tool_prompt
    assert prompt is not None and "<tool_call>" in prompt(TOOLS) and "get_weather" in prompt(TOOLS)
