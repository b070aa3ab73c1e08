"""Claude (Anthropic Messages API), converted both ways to the OpenAI shapes the base speaks.

Request: system messages → top-level ``system``; ``max_tokens`` required (default 4096);
OpenAI tools → ``{name, description, input_schema}``; assistant ``tool_calls`` → ``tool_use``
blocks; ``tool`` messages → ``tool_result`` blocks in a user turn; images → ``image`` blocks.
Auth: ``x-api-key`` + ``anthropic-version``.

Response / stream: ``text`` → content, ``thinking`` → reasoning_content, ``tool_use`` →
tool_calls (``input_json_delta`` fragments merged by tool index); ``stop_reason`` mapped to
OpenAI finish reasons; usage combines ``message_start`` input and ``message_delta`` output.
Thinking blocks (with their ``signature``) and ``redacted_thinking`` blocks are kept on the
message as ``thinking_blocks`` and sent back first in that assistant turn (see
:func:`to_anthropic_messages`): with thinking and tools, the API demands it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .._config import Secret
from .._exceptions import (
    APIError,
    ConfigError,
    ProtocolError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
)
from ..streaming.sse import SSEEvent
from ._keys import Auth, RedactedHeaders, StaticAuth
from ._media import text_of as _text
from ._toolcalls import call_arguments
from .chat_base import OnlineChatModuleBase

__all__ = ["ClaudeChat"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 4096
STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "pause_turn": "stop", "max_tokens": "length",
                "tool_use": "tool_calls", "refusal": "content_filter"}


def _image_block(url: str) -> dict[str, Any]:
    if url.startswith("data:"):
        head, _, data = url.partition(",")
        mime = head[5:].split(";")[0] or "image/png"
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image", "source": {"type": "url", "url": url}}


def _blank(text: Any) -> bool:
    return not isinstance(text, str) or not text.strip()


def _user_blocks(content: Any) -> Any:
    """A user turn's content, with whitespace-only text left out (None when nothing is left)."""
    if not isinstance(content, list):
        return None if _blank(content) else content
    blocks: list[dict[str, Any]] = []
    for part in content:
        kind = part.get("type")
        if kind == "text":
            if not _blank(part.get("text")):
                blocks.append({"type": "text", "text": part["text"]})
        elif kind == "image_url":
            iu = part.get("image_url")
            blocks.append(_image_block(iu["url"] if isinstance(iu, dict) else str(iu)))
        else:
            blocks.append(part)  # already an Anthropic block
    return blocks or None


def _assistant_blocks(m: dict[str, Any]) -> list[dict[str, Any]]:
    """An assistant turn as blocks: its signed thinking blocks first (as Claude sent them), then
    non-blank text, then tool calls."""
    blocks: list[dict[str, Any]] = [dict(b) for b in m.get("thinking_blocks") or () if isinstance(b, dict)]
    text = _text(m.get("content"))
    if not _blank(text):
        blocks.append({"type": "text", "text": text})
    for tc in m.get("tool_calls") or []:
        name, parsed = call_arguments(tc)
        blocks.append({"type": "tool_use", "id": tc.get("id"), "name": name, "input": parsed})
    return blocks


def to_anthropic_messages(messages: list[dict[str, Any]]) -> tuple[str | None, list[dict[str, Any]]]:
    """(system text, Anthropic messages) from OpenAI-style messages.

    Claude rejects text blocks that are empty or whitespace only ("text content blocks must
    contain non-whitespace text": anthropics/claude-code#23440), and a placeholder such as " "
    fails the same check (NousResearch/hermes-agent#41985). So blank text parts are left out,
    and a turn left with nothing (an empty assistant turn, an empty user turn in the history) is
    dropped: the API joins the consecutive turns of one role that this can leave
    (https://docs.anthropic.com/en/api/messages). An empty *last* user turn cannot be dropped
    without changing the question, so it is a ConfigError naming the fix.

    With extended thinking, the assistant turn that called tools must be sent back starting with
    its thinking blocks, unmodified and signed (https://docs.anthropic.com/en/docs/build-with-claude/
    extended-thinking#preserving-thinking-blocks; anthropic 2.14 types/thinking_block_param.py):
    they travel on the message as ``thinking_blocks`` and go first.
    """
    system: list[str] = []
    out: list[dict[str, Any]] = []
    for i, m in enumerate(messages):
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            system.append(_text(content))
        elif role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id")}
            if not _blank(_text(content)):  # content is optional; a blank one would fail the text check
                block["content"] = _text(content)
            last = out[-1] if out else None
            if last and last["role"] == "user" and isinstance(last["content"], list) and all(
                    b.get("type") == "tool_result" for b in last["content"]):
                last["content"].append(block)
            else:
                out.append({"role": "user", "content": [block]})
        elif role == "assistant":
            if blocks := _assistant_blocks(m):
                out.append({"role": "assistant", "content": blocks})
        else:
            user = _user_blocks(content)
            if user is not None:
                out.append({"role": "user", "content": user})
            elif i == len(messages) - 1:
                raise ConfigError("Claude rejects an empty or whitespace-only user message; pass some text as the "
                                  "input (with a prompt whose placeholders take the input, give it a 'user' "
                                  "template: prompt({'system': ..., 'user': '{name}'}))")
    return ("\n".join(s for s in system if s) or None), out


def to_anthropic_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        fn = t.get("function", t) if t.get("type", "function") == "function" else t
        if "input_schema" in fn:
            out.append(fn)
            continue
        out.append({"name": fn.get("name"), "description": fn.get("description", ""),
                    "input_schema": fn.get("parameters") or {"type": "object", "properties": {}}})
    return out


def to_anthropic_tool_choice(choice: Any) -> Any:
    if choice == "auto":
        return {"type": "auto"}
    if choice == "required":
        return {"type": "any"}
    if choice == "none":
        return {"type": "none"}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    return choice


class _StreamConverter:
    """Anthropic stream events → OpenAI chunk dicts, for one stream."""

    __slots__ = ("input_tokens", "owner", "thinking", "tool_index")

    def __init__(self, owner: ClaudeChat) -> None:
        self.owner = owner
        self.tool_index: dict[int, int] = {}  # content block index → tool call index
        self.input_tokens: int | None = None
        # thinking / redacted_thinking blocks as they will have to be sent back, by block index
        self.thinking: dict[int, dict[str, Any]] = {}

    @property
    def extras(self) -> dict[str, Any] | None:
        """Kept on the answer's message (see ``OnlineChatModuleBase.message_extras``)."""
        return {"thinking_blocks": [self.thinking[i] for i in sorted(self.thinking)]} if self.thinking else None

    @staticmethod
    def _delta(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    def __call__(self, event: SSEEvent) -> dict[str, Any] | None:
        try:
            data = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            raise ProtocolError(f"malformed JSON in a Claude stream event: {event.data[:80]!r}",
                                provider="claude") from exc
        kind = data.get("type") or event.event
        if kind == "content_block_delta":
            d = data.get("delta") or {}
            dt = d.get("type")
            if dt == "text_delta":
                return self._delta({"content": d.get("text", "")})
            if dt == "thinking_delta":
                text = d.get("thinking", "")
                if (b := self.thinking.get(data.get("index", -1))) is not None:
                    b["thinking"] += text
                return self._delta({"reasoning_content": text})
            if dt == "signature_delta":
                if (b := self.thinking.get(data.get("index", -1))) is not None:
                    b["signature"] = b.get("signature", "") + d.get("signature", "")
                return None
            if dt == "input_json_delta":
                ti = self.tool_index.get(data.get("index", -1))
                if ti is None:
                    raise ProtocolError("Claude sent tool input for a block that is not a tool_use", provider="claude")
                frag = {"index": ti, "function": {"arguments": d.get("partial_json", "")}}
                return self._delta({"tool_calls": [frag]})
            return None
        if kind == "content_block_start":
            block = data.get("content_block") or {}
            if block.get("type") == "tool_use":
                ti = self.tool_index[data.get("index", len(self.tool_index))] = len(self.tool_index)
                return self._delta({"tool_calls": [{"index": ti, "id": block.get("id"), "type": "function",
                                                    "function": {"name": block.get("name"), "arguments": ""}}]})
            if block.get("type") == "text" and block.get("text"):
                return self._delta({"content": block["text"]})
            if block.get("type") == "thinking":
                self.thinking[data.get("index", -1)] = {"type": "thinking", "thinking": block.get("thinking") or "",
                                                        "signature": block.get("signature") or ""}
            elif block.get("type") == "redacted_thinking":
                self.thinking[data.get("index", -1)] = dict(block)
            return None
        if kind == "message_start":
            usage = (data.get("message") or {}).get("usage") or {}
            self.input_tokens = usage.get("input_tokens")
            return None
        if kind == "message_delta":
            stop = (data.get("delta") or {}).get("stop_reason")
            frame = self._delta({}, STOP_REASONS.get(stop, stop) if stop else None)
            out_tokens = (data.get("usage") or {}).get("output_tokens")
            if out_tokens is not None:
                frame["usage"] = {"prompt_tokens": self.input_tokens if self.input_tokens is not None else -1,
                                  "completion_tokens": out_tokens}
            return frame
        if kind == "error":
            raise self.owner._anthropic_error(data.get("error") or {})
        return None  # ping, content_block_stop, message_stop


class ClaudeChat(OnlineChatModuleBase, source="claude"):
    default_system_prompt = "You are Claude, an AI assistant built by Anthropic: helpful, harmless and honest."
    structured_output = "tool"  # a forced tool call (tool_choice {type: tool, name})
    default_base_url = "https://api.anthropic.com/v1/"
    # claude-sonnet-4-5 reaches end-of-life on 2026-11-30 (anthropic 2.14 _data/deprecated_models.py);
    # claude-sonnet-5-5 is the newest Sonnet the SDK lists (types/model.py)
    default_model = "claude-sonnet-5-5"
    chat_path = "messages"
    stream_usage = False
    message_extras = ("thinking_blocks",)

    def _make_auth(self, key: Secret | None) -> Auth:
        h = RedactedHeaders({"anthropic-version": ANTHROPIC_VERSION})
        if key:
            h["x-api-key"] = key.get()
        return StaticAuth(h)

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        system, msgs = to_anthropic_messages(messages)
        merged = {**self._static_params, **params}
        body: dict[str, Any] = {"model": model, "messages": msgs,
                                "max_tokens": merged.pop("max_tokens", None) or merged.pop("max_completion_tokens",
                                                                                            DEFAULT_MAX_TOKENS),
                                "stream": stream}
        if system:
            body["system"] = system
        if tools:
            body["tools"] = to_anthropic_tools(tools)
        if "tool_choice" in merged:
            body["tool_choice"] = to_anthropic_tool_choice(merged.pop("tool_choice"))
        if "stop" in merged:
            stop = merged.pop("stop")
            body["stop_sequences"] = [stop] if isinstance(stop, str) else stop
        merged.pop("stream_options", None)
        body.update(merged)
        return body

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or body.get("type") == "error" or not isinstance(body.get("content"), list):
            if isinstance(body, dict) and body.get("type") == "error":
                raise self._anthropic_error(body.get("error") or {})
            raise ProtocolError(f"Claude answered without 'content': {str(body)[:200]!r}", provider="claude")
        text: list[str] = []
        thinking: list[str] = []
        signed: list[dict[str, Any]] = []
        calls: list[dict[str, Any]] = []
        for block in body["content"]:
            kind = block.get("type")
            if kind == "text":
                text.append(block.get("text", ""))
            elif kind == "thinking":
                thinking.append(block.get("thinking", ""))
                signed.append(block)
            elif kind == "redacted_thinking":
                signed.append(block)
            elif kind == "tool_use":
                calls.append({"id": block.get("id"), "type": "function",
                              "function": {"name": block.get("name"),
                                           "arguments": orjson.dumps(block.get("input") or {}).decode()}})
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
        if thinking:
            msg["reasoning_content"] = "".join(thinking)
        if calls:
            msg["tool_calls"] = calls
        if signed:
            msg["thinking_blocks"] = signed
        stop = body.get("stop_reason")
        finish = STOP_REASONS.get(stop, stop) if isinstance(stop, str) else stop
        return {"choices": [{"index": 0, "message": msg, "finish_reason": finish}],
                "usage": body.get("usage")}

    def _frame_converter(self) -> Callable[[SSEEvent], dict[str, Any] | None]:
        return _StreamConverter(self)

    def _anthropic_error(self, err: dict[str, Any]) -> APIError:
        kind, msg = err.get("type"), err.get("message", "")
        text = f"Claude stream error {kind}: {msg}"
        kw: dict[str, Any] = {"provider": "claude", "model": self._model_name, "error_type": kind}
        if kind == "overloaded_error":
            return ProviderOverloadedError(text, status_code=529, **kw)
        if kind == "rate_limit_error":
            return RateLimitError(text, status_code=429, **kw)
        if kind == "billing_error":  # anthropic 2.14 types/shared/error_type.py; HTTP 402 outside a stream
            return QuotaExceededError(text, status_code=402, **kw)
        return APIError(text, provider="claude", model=self._model_name)
