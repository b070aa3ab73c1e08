"""Prompters: the system/instruction/history/placeholder rules and tools."""

from __future__ import annotations

import pytest

from asyncllm._exceptions import ConfigError
from asyncllm.prompts import AlpacaPrompter, ChatPrompter, EmptyPrompter


def test_empty_prompter_passes_input_and_history() -> None:
    p = EmptyPrompter()
    assert p.generate_prompt("hi") == {"messages": [{"role": "user", "content": "hi"}]}
    out = p.generate_prompt("q2", [["q1", "a1"], {"role": "user", "content": "x"}])
    assert out["messages"] == [{"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
                               {"role": "user", "content": "x"}, {"role": "user", "content": "q2"}]
    assert p.generate_prompt({"a": 1})["messages"][0]["content"] == '{"a":1}'


def test_instruction_without_placeholder_is_system_and_input_is_user() -> None:
    out = ChatPrompter("Be brief.", system="You are a bot.").generate_prompt("hello")
    assert out["messages"] == [{"role": "system", "content": "You are a bot.\nBe brief."},
                               {"role": "user", "content": "hello"}]


def test_str_input_fills_single_placeholder_and_user_turn_is_empty() -> None:
    out = ChatPrompter("Translate {text} to French").generate_prompt("cat")
    assert out["messages"] == [{"role": "system", "content": "Translate cat to French"},
                               {"role": "user", "content": ""}]


def test_dict_input_fills_placeholders_and_one_leftover_is_user() -> None:
    p = ChatPrompter("Context: {context}")
    out = p.generate_prompt({"context": "sky is blue", "query": "what colour?"})
    assert out["messages"] == [{"role": "system", "content": "Context: sky is blue"},
                               {"role": "user", "content": "what colour?"}]


def test_several_leftovers_are_sent_as_json() -> None:
    out = ChatPrompter("C: {c}").generate_prompt({"c": "1", "a": "x", "b": "y"})
    assert out["messages"][1]["content"] == '{"a":"x","b":"y"}'


def test_missing_placeholder_and_str_for_many_placeholders_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="no value for the prompt placeholders"):
        ChatPrompter("{a} {b}").generate_prompt({"a": 1})
    with pytest.raises(ConfigError, match="pass a dict input"):
        ChatPrompter("{a} {b}").generate_prompt("x")


def test_json_braces_are_not_placeholders() -> None:
    out = ChatPrompter('Answer like {"answer": 1}').generate_prompt("q")
    assert out["messages"][0]["content"] == 'Answer like {"answer": 1}'
    assert out["messages"][1]["content"] == "q"


def test_dict_instruction_user_template() -> None:
    p = ChatPrompter({"system": "Sys", "user": "Question: {q}\n"})
    assert p.generate_prompt("why?")["messages"] == [{"role": "system", "content": "Sys"},
                                                      {"role": "user", "content": "Question: why?\n"}]
    plain = ChatPrompter({"system": "Sys", "user": "Prefix: "}).generate_prompt("x")
    assert plain["messages"][1] == {"role": "user", "content": "Prefix: x"}
    with pytest.raises(ConfigError, match="'system' and 'user'"):
        ChatPrompter({"sys": "x"})


def test_prompter_history_comes_before_call_history_and_tools_are_attached() -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {}}}]
    p = ChatPrompter("S", history=[["h1", "a1"]], tools=tools)
    out = p.generate_prompt("now", [["c1", "ca1"]])
    roles = [(m["role"], m["content"]) for m in out["messages"]]
    assert roles == [("system", "S"), ("user", "h1"), ("assistant", "a1"), ("user", "c1"),
                     ("assistant", "ca1"), ("user", "now")]
    assert out["tools"] == tools
    other = [{"type": "function", "function": {"name": "g"}}]
    assert p.generate_prompt("x", tools=other)["tools"] == other


def test_message_list_input_is_used_as_the_conversation() -> None:
    msgs = [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}]
    out = ChatPrompter("S").generate_prompt(msgs)
    assert out["messages"] == [{"role": "system", "content": "S"}, *msgs]


def test_bad_history_item_names_the_fix() -> None:
    with pytest.raises(ConfigError, match=r"\[question, answer\] pair"):
        EmptyPrompter().generate_prompt("x", ["just a string"])


def test_alpaca_prompter_wraps_instruction() -> None:
    out = AlpacaPrompter("Summarise {doc}").generate_prompt("long text")
    system = out["messages"][0]["content"]
    assert system.endswith("### Instruction:\nSummarise long text")
    assert out["messages"][1]["content"] == ""
