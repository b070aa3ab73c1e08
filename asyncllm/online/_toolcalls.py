"""Merging streamed tool-call fragments into whole calls.

The OpenAI stream sends a call in pieces keyed by ``index``: the first carries ``id`` and
``function.name``, later ones ``function.arguments`` fragments to concatenate. Engines bend
this (ids repeated or missing, the name repeated, arguments sent as an object or all in the
first piece), so the merge is keyed by ``index`` only and tolerant of each of those.

A call may carry ``extra_content`` (``{vendor: {field: value}}``): Google's OpenAI-compatible
shape for what a vendor needs back on the call, Gemini 3's ``thought_signature`` (see
online/gemini.py). It is merged per vendor key (a signature may come in a later piece than the
call) and kept on the merged call; a request to a provider that does not take it back leaves it
off (online/_message_fields.py).
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["ToolCallAccumulator", "call_arguments", "finish_calls"]


class ToolCallAccumulator:
    """Feed ``delta["tool_calls"]`` lists; :meth:`result` gives the merged calls by index."""

    __slots__ = ("_args", "_calls")

    def __init__(self) -> None:
        self._calls: dict[int, dict[str, Any]] = {}
        self._args: dict[int, list[str]] = {}

    def add(self, deltas: list[dict[str, Any]]) -> None:
        for pos, d in enumerate(deltas):
            if not isinstance(d, dict):
                continue
            idx = d.get("index")
            if not isinstance(idx, int):
                idx = pos
            cur = self._calls.get(idx)
            if cur is None:
                cur = self._calls[idx] = {"id": None, "type": "function", "function": {"name": ""}}
                self._args[idx] = []
            if d.get("id"):
                cur["id"] = d["id"]
            if d.get("type"):
                cur["type"] = d["type"]
            fn = d.get("function") or {}
            name = fn.get("name")
            if name and name != cur["function"]["name"]:
                cur["function"]["name"] = name if not cur["function"]["name"] else cur["function"]["name"] + name
            args = fn.get("arguments")
            if isinstance(args, dict):
                self._args[idx] = [orjson.dumps(args).decode()]
            elif args:
                self._args[idx].append(args)
            if extra := d.get("extra_content"):
                _merge_extra(cur, extra)

    def __bool__(self) -> bool:
        return bool(self._calls)

    def result(self) -> list[dict[str, Any]]:
        out = []
        for idx in sorted(self._calls):
            call = self._calls[idx]
            fn = {"name": call["function"]["name"], "arguments": "".join(self._args[idx]) or "{}"}
            merged = {"id": call["id"] or f"call_{idx}", "type": call["type"], "function": fn}
            if "extra_content" in call:
                merged["extra_content"] = call["extra_content"]
            out.append(merged)
        return out


def _merge_extra(call: dict[str, Any], extra: Any) -> None:
    if not isinstance(extra, dict):
        return
    mine: dict[str, Any] = call.setdefault("extra_content", {})
    for vendor, fields in extra.items():
        if isinstance(fields, dict):
            mine[vendor] = {**(mine.get(vendor) or {}), **fields}


def finish_calls(calls: list[dict[str, Any]] | None) -> list[dict[str, Any]] | None:
    """Non-streamed calls, normalised like merged ones (object arguments → JSON text, ids filled)."""
    if not calls:
        return None
    acc = ToolCallAccumulator()
    acc.add([{**c, "index": c.get("index", i)} for i, c in enumerate(calls)])
    return acc.result()


def call_arguments(tc: dict[str, Any]) -> tuple[str | None, Any]:
    """``(name, arguments as an object)`` of one OpenAI-shaped tool call, for the providers whose
    wire takes arguments as JSON objects (Claude, Gemini, Ollama). Arguments that are not valid
    JSON travel as ``{"_raw": text}`` rather than being dropped."""
    fn = tc.get("function") or {}
    args = fn.get("arguments")
    try:
        parsed = orjson.loads(args) if isinstance(args, str) and args else (args or {})
    except orjson.JSONDecodeError:
        parsed = {"_raw": args}
    return fn.get("name"), parsed
