"""Tool calls parsed from a local model's raw text, and the stream gate that hides them.

:func:`parse_tool_calls` follows LazyLLM's rules (module layer spec §5.3):

* When the family's ``tool_start_token`` occurs, the text before it is the content and each
  segment after it is one call: ``name<args_token>{json}`` when the family has an args token,
  else JSON (``{"name", "arguments"|"parameters"}``, or a list of those — SmolLM2 writes a
  list), cut at ``tool_end_token``. String arguments are decoded as JSON again while they
  still are strings.
* Otherwise, when tools were offered: a line starting with ``{`` right after a line that is
  exactly a tool's name is that tool's call (the rest of the text is its arguments, kept as a
  string); a line holding ``{`` and ``name`` that parses as JSON (an object or a list) gives
  calls for the entries naming a known tool.
* Otherwise the text is all content.

Unlike LazyLLM, malformed JSON never raises and a family without tool tokens still parses by
the tool-name heuristics (the spec's "tools without tool tokens" bug).

:class:`ToolTokenGate` holds back streamed text while it may be the beginning of the start
token, and swallows everything from the token on, so a stream never shows raw call markup.
"""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["ToolTokenGate", "parse_tool_calls", "to_openai_calls"]

Call = dict[str, Any]


def _loads(text: Any) -> Any:
    """JSON (then Python-literal) decoding, repeated while the result is still a string."""
    seen = 0
    while isinstance(text, str) and seen < 3:
        s = text.strip()
        try:
            text = json.loads(s)
        except ValueError:
            try:
                # Small models often write Python dicts (single quotes, True/None): literals only.
                value = ast.literal_eval(s)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                return text
            if not isinstance(value, (dict, list, str)):
                return text
            text = value
        seen += 1
    return text


def _call_from_obj(obj: Any, tools: set[str] | None) -> Call | None:
    if not isinstance(obj, dict):
        return None
    name = obj.get("name")
    if not isinstance(name, str) or not name or (tools is not None and name not in tools):
        return None
    args = obj.get("arguments", obj.get("parameters", {}))
    return {"name": name, "arguments": _loads(args) if isinstance(args, str) else args}


def _calls_from_json(text: str, tools: set[str] | None) -> list[Call]:
    value = _loads(text)
    items = value if isinstance(value, list) else [value]
    return [c for c in (_call_from_obj(i, tools) for i in items) if c is not None]


def _cut(text: str, token: str | None) -> str:
    return text.split(token, 1)[0] if token else text


def _parse_with_tokens(text: str, start: str, args_token: str | None, end: str | None) -> tuple[str, list[Call]]:
    segments = text.split(start)
    calls: list[Call] = []
    for seg in segments[1:]:
        seg = seg.strip()
        if args_token and args_token in seg:
            name, _, rest = seg.partition(args_token)
            name = name.strip()
            if name:
                args = _cut(rest, end).strip()
                calls.append({"name": name, "arguments": _loads(args) if args else {}})
        elif args_token:
            name = _cut(seg, end).strip()
            if name:
                calls.append({"name": name, "arguments": {}})
        else:
            calls.extend(_calls_from_json(_cut(seg, end), None))
    return segments[0], calls


def _parse_with_tools(text: str, tools: set[str]) -> tuple[str, list[Call]]:
    lines = text.strip().split("\n")
    content: list[str] = []
    calls: list[Call] = []
    for idx, line in enumerate(lines):
        if line.startswith("{") and idx > 0 and lines[idx - 1].strip() in tools:
            name = lines[idx - 1].strip()
            if content and content[-1].strip() == name:
                content.pop()
            calls.append({"name": name, "arguments": "\n".join(lines[idx:]).strip()})
            break  # the rest of the text is this call's arguments
        if "{" in line and "name" in line:
            found = _calls_from_json(line, tools)
            if found:
                calls.extend(found)
                continue
        content.append(line)
    return "\n".join(content), calls


def parse_tool_calls(text: str, *, tool_start_token: str | None = None, tool_args_token: str | None = None,
                     tool_end_token: str | None = None,
                     tools: Iterable[str] | Sequence[dict[str, Any]] | None = None) -> tuple[str, list[Call]]:
    """``(content, [{"name", "arguments"}])`` from a model's raw output (see the module docstring)."""
    if tool_start_token and tool_start_token in text:
        return _parse_with_tokens(text, tool_start_token, tool_args_token, tool_end_token)
    names = _tool_names(tools)
    if names:
        return _parse_with_tools(text, names)
    return text, []


def _tool_names(tools: Iterable[str] | Sequence[dict[str, Any]] | None) -> set[str]:
    out: set[str] = set()
    for t in tools or ():
        if isinstance(t, str):
            out.add(t)
        elif isinstance(t, dict):
            fn = t.get("function", t)
            if isinstance(fn, dict) and isinstance(fn.get("name"), str):
                out.add(fn["name"])
    return out


def to_openai_calls(calls: Sequence[Call]) -> list[dict[str, Any]]:
    """The OpenAI shape: ``{"id", "type": "function", "function": {"name", "arguments": json text}}``."""
    out = []
    for c in calls:
        args = c.get("arguments", {})
        text = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
        out.append({"id": f"call_{uuid.uuid4().hex[:24]}", "type": "function",
                    "function": {"name": c["name"], "arguments": text}})
    return out


class ToolTokenGate:
    """Feed streamed text; get back what may be shown now (never any part of a tool call)."""

    def __init__(self, token: str | None) -> None:
        self.token = token or ""
        self._held = ""
        self.tripped = False  # the start token was seen: the rest is call markup

    def feed(self, piece: str) -> str:
        if self.tripped or not self.token:
            return "" if self.tripped else piece
        text = self._held + piece
        at = text.find(self.token)
        if at >= 0:
            self.tripped = True
            self._held = ""
            return text[:at]
        # Keep the longest suffix that is a prefix of the token: it may still become one.
        keep = 0
        for n in range(min(len(self.token) - 1, len(text)), 0, -1):
            if self.token.startswith(text[-n:]):
                keep = n
                break
        self._held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        out, self._held = ("" if self.tripped else self._held), ""
        return out
