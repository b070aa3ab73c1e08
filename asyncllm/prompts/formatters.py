"""Formatters: the model's assistant message → what a chat call returns.

A formatter receives the assistant message ``{"role": "assistant", "content": str,
"tool_calls"?: [...], "reasoning_content"?: str}`` (or a plain value, when it follows another
formatter in a chain). ``a | b`` runs ``a`` then ``b``. Any callable taking one value is a
formatter too.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from .._exceptions import ConfigError, ProtocolError

__all__ = [
    "EmptyFormatter",
    "FormatterBase",
    "FormatterChain",
    "FunctionCallFormatter",
    "JsonFormatter",
    "as_formatter",
]


def content_of(msg: Any) -> Any:
    if isinstance(msg, dict) and "role" in msg:
        return msg.get("content") or ""
    return msg


class FormatterBase:
    """Subclasses implement :meth:`format`."""

    is_empty = False

    def format(self, msg: Any) -> Any:
        raise NotImplementedError

    def __call__(self, msg: Any) -> Any:
        return self.format(msg)

    def __or__(self, other: Callable[[Any], Any]) -> FormatterChain:
        return FormatterChain(self, other)

    def __ror__(self, other: Callable[[Any], Any]) -> FormatterChain:
        return FormatterChain(other, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class EmptyFormatter(FormatterBase):
    """The message's text (tool calls and reasoning are left out)."""

    is_empty = True

    def format(self, msg: Any) -> Any:
        return content_of(msg)


class _TextOf(FormatterBase):
    """The text, as a chain step (EmptyFormatter itself is dropped from chains)."""

    def format(self, msg: Any) -> Any:
        return content_of(msg)

    def __repr__(self) -> str:
        return "text"


class FormatterChain(FormatterBase):
    """Formatters applied left to right."""

    def __init__(self, *items: Callable[[Any], Any]) -> None:
        flat: list[Callable[[Any], Any]] = []
        for it in items:
            if not callable(it):
                raise ConfigError(f"a formatter must be callable, got {type(it).__name__}")
            if isinstance(it, FormatterChain):
                flat.extend(it.items)
            else:
                flat.append(it)
        self.items: list[Callable[[Any], Any]] = flat

    def format(self, msg: Any) -> Any:
        if not self.items:
            return content_of(msg)
        for f in self.items:
            msg = f(msg)
        return msg

    def __repr__(self) -> str:
        return " | ".join(repr(f) for f in self.items) or "EmptyFormatter()"


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)


class JsonFormatter(FormatterBase):
    """Parse the first JSON object or array in the text; ``key`` then picks a field
    (``"a.b"``, list indexes as numbers: ``"items.0.name"``)."""

    def __init__(self, key: str | None = None) -> None:
        self.key = key

    @staticmethod
    def parse(text: str) -> Any:
        fenced = _FENCE.search(text)
        candidates = [fenced.group(1)] if fenced else []
        candidates.append(text)
        decoder = json.JSONDecoder()
        for cand in candidates:
            for i, ch in enumerate(cand):
                if ch in "{[":
                    try:
                        return decoder.raw_decode(cand, i)[0]
                    except json.JSONDecodeError:
                        continue
        raise ProtocolError(
            f"the model's answer holds no JSON object or array: {text[:80]!r}; ask for JSON in the "
            "prompt or pass response_format={'type': 'json_object'}"
        )

    def format(self, msg: Any) -> Any:
        text = content_of(msg)
        value = text if not isinstance(text, str) else self.parse(text)
        if self.key:
            for part in self.key.split("."):
                try:
                    value = value[int(part)] if isinstance(value, list) else value[part]
                except (KeyError, IndexError, ValueError, TypeError) as exc:
                    raise ProtocolError(f"JSON answer has no {self.key!r} (failed at {part!r})") from exc
        return value

    def __repr__(self) -> str:
        return f"JsonFormatter({self.key!r})" if self.key else "JsonFormatter()"


class FunctionCallFormatter(FormatterBase):
    """The whole assistant message, tool calls included (ready to append to the history).

    ``tool_calls`` items are ``{"id", "type": "function", "function": {"name", "arguments"}}``
    with ``arguments`` a JSON string as the OpenAI wire has it; ``parse_arguments=True``
    decodes them to dicts. A call keeps its ``extra_content`` (Gemini 3's thought signature, in
    Google's OpenAI-compatible shape) so that the history sends it back.
    """

    def __init__(self, parse_arguments: bool = False) -> None:
        self.parse_arguments = parse_arguments

    def format(self, msg: Any) -> Any:
        if not isinstance(msg, dict):
            return {"role": "assistant", "content": msg if isinstance(msg, str) else str(msg)}
        out: dict[str, Any] = {"role": "assistant", "content": msg.get("content") or ""}
        calls = msg.get("tool_calls")
        if calls:
            clean = []
            for c in calls:
                fn = dict(c.get("function") or {})
                if self.parse_arguments and isinstance(fn.get("arguments"), str):
                    try:
                        fn["arguments"] = json.loads(fn["arguments"] or "{}")
                    except json.JSONDecodeError as exc:
                        raise ProtocolError(
                            f"tool call {fn.get('name')!r} has arguments that are not JSON: "
                            f"{fn['arguments'][:80]!r}") from exc
                call = {"id": c.get("id"), "type": c.get("type") or "function", "function": fn}
                if c.get("extra_content"):  # Gemini 3's thought signature: must go back on this call
                    call["extra_content"] = c["extra_content"]
                clean.append(call)
            out["tool_calls"] = clean
        if msg.get("reasoning_content"):
            out["reasoning_content"] = msg["reasoning_content"]
        if msg.get("thinking_blocks"):  # Claude's signed thinking: must go back with the tool results
            out["thinking_blocks"] = msg["thinking_blocks"]
        return out


def as_formatter(value: Any) -> FormatterBase:
    """``None`` → EmptyFormatter; a formatter as is; any other callable wrapped."""
    if value is None:
        return EmptyFormatter()
    if isinstance(value, FormatterBase):
        return value
    if callable(value):
        return FormatterChain(_TextOf(), value)  # a plain function gets the answer's text
    raise ConfigError(f"formatter() takes a formatter or a callable, got {type(value).__name__}")
