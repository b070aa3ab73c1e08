"""Formatters: text, JSON, function calls, and chaining with ``|``."""

from __future__ import annotations

import pytest

from asyncllm._exceptions import ConfigError, ProtocolError
from asyncllm.prompts import EmptyFormatter, FunctionCallFormatter, JsonFormatter, as_formatter

MSG = {"role": "assistant", "content": 'Sure: ```json\n{"a": {"b": [1, 2]}}\n```',
       "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": 1}'}}],
       "reasoning_content": "hmm"}


def test_empty_formatter_returns_text() -> None:
    assert EmptyFormatter()(MSG) == MSG["content"]
    assert EmptyFormatter()("plain") == "plain"


def test_json_formatter_parses_fenced_and_inline_json_and_picks_keys() -> None:
    assert JsonFormatter()(MSG) == {"a": {"b": [1, 2]}}
    assert JsonFormatter("a.b.1")(MSG) == 2
    assert JsonFormatter()('result [1, 2] done') == [1, 2]
    with pytest.raises(ProtocolError, match="no JSON"):
        JsonFormatter()("no json here")
    with pytest.raises(ProtocolError, match=r"'a\.c'"):
        JsonFormatter("a.c")(MSG)


def test_function_call_formatter_keeps_calls_and_reasoning() -> None:
    out = FunctionCallFormatter()(MSG)
    assert out["tool_calls"] == MSG["tool_calls"]
    assert out["reasoning_content"] == "hmm"
    parsed = FunctionCallFormatter(parse_arguments=True)(MSG)
    assert parsed["tool_calls"][0]["function"]["arguments"] == {"x": 1}
    assert FunctionCallFormatter()("text") == {"role": "assistant", "content": "text"}


def test_chaining_runs_left_to_right_and_callables_get_text() -> None:
    chain = JsonFormatter() | (lambda v: v["a"]["b"])
    assert chain(MSG) == [1, 2]
    assert (EmptyFormatter() | str.upper)({"role": "assistant", "content": "hi"}) == "HI"
    assert as_formatter(len)({"role": "assistant", "content": "abc"}) == 3
    assert (EmptyFormatter() | EmptyFormatter())({"role": "assistant", "content": "x"}) == "x"
    with pytest.raises(ConfigError):
        as_formatter(42)
