"""Request rules the real APIs enforce, so that a client that breaks one gets the 400 a user with a
real key would get. Each rule names its source (checked 2026-11-30); each returns None for a
request that passes, else ``(status, error body)``.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

Answer = tuple[int, Any]

# Qwen3 open-source models (qwen3-8b, qwen3-30b-a3b, qwen3-235b-a22b, ...) think by default, and
# DashScope refuses a non-streamed call to them unless enable_thinking is false:
# https://help.aliyun.com/zh/model-studio/deep-thinking ; the error as users meet it:
# alibaba/spring-ai-alibaba#867, datawhalechina/hello-agents#230, QuantumNous/new-api#1109.
# The dated -instruct/-thinking-2507 variants do not take the switch, so they do not match.
QWEN3_OPEN = re.compile(r"qwen3-\d+(?:\.\d+)?b(?:-a\d+(?:\.\d+)?b)?")


# Mistral validates bodies strictly (pydantic, extra="forbid"): OpenAI's `stream_options` and
# `max_completion_tokens` are 422 "Extra inputs are not permitted", and a stream carries its usage
# without being asked. As users meet it: dnakov/anon-kode#53 and avante-corp/avante.nvim#2347
# (stream_options), editor-code-assistant/eca#231 (max_completion_tokens).
MISTRAL_UNKNOWN = ("stream_options", "max_completion_tokens")


# Groq takes no streamed request with response_format: JSON mode "Does not support streaming"
# (https://console.groq.com/docs/text-chat), nor Structured Outputs ("streaming is not currently
# supported", https://console.groq.com/docs/structured-outputs). The 400 as users meet it:
# langchain-ai/langchain#23629, BerriAI/litellm#4804.
GROQ_NO_STREAM = "response_format` does not support streaming"


# Mistral validates each message the same way: a field its message schema lacks (an assistant
# `reasoning_content`, Claude's `thinking_blocks`) is 422 extra_forbidden at
# ["body", "messages", i, role, field] (charmbracelet/crush#1590, BerriAI/litellm#30835,
# Gage-Technologies/mistral-go#2). `prefix` is its own (docs.mistral.ai/guides/prefix).
MISTRAL_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "prefix"})
MISTRAL_CALL_FIELDS = frozenset({"id", "type", "function", "index"})

# Groq answers a message field it does not know with a 400 worded as its validator words it
# (janhq/jan#8136, NousResearch/hermes-agent#11089, tashfeenahmed/freellmapi#1070); an assistant
# `reasoning` is its own (https://console.groq.com/docs/reasoning).
GROQ_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "reasoning"})


def _mistral_extra(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Mistral's extra_forbidden entries: the body's own fields, then each message's and call's."""
    out = [{"type": "extra_forbidden", "loc": ["body", k], "msg": "Extra inputs are not permitted", "input": body[k]}
           for k in MISTRAL_UNKNOWN if k in body]
    for i, m in enumerate(body.get("messages") or []):
        role = m.get("role")
        out += [{"type": "extra_forbidden", "loc": ["body", "messages", i, role, k],
                 "msg": "Extra inputs are not permitted", "input": v} for k, v in m.items()
                if k not in MISTRAL_MESSAGE_FIELDS]
        for j, c in enumerate(m.get("tool_calls") or []):
            out += [{"type": "extra_forbidden", "loc": ["body", "messages", i, role, "tool_calls", j, k],
                     "msg": "Extra inputs are not permitted", "input": v} for k, v in c.items()
                    if k not in MISTRAL_CALL_FIELDS]
    return out


def _groq_unsupported(body: dict[str, Any]) -> str | None:
    for i, m in enumerate(body.get("messages") or []):
        if bad := [k for k in m if k not in GROQ_MESSAGE_FIELDS]:
            return (f"'messages.{i}' : for 'role:{m.get('role')}' the following must be satisfied"
                    f"[('messages.{i}' : property '{bad[0]}' is unsupported)]")
    return None


def _unsent_reasoning(flavor: str, body: dict[str, Any]) -> Answer | None:
    """DeepSeek and Kimi in thinking mode: every assistant turn that called tools must come back
    with its ``reasoning_content``. DeepSeek's 400 as users meet it: anomalyco/opencode#9397,
    zed-industries/zed#44301 (https://api-docs.deepseek.com/guides/thinking_mode#tool-calls);
    Kimi's: continuedev/continue#11600 and #11711."""
    if not thinking_enabled(body, str(body.get("model") or "")):
        return None
    for i, m in enumerate(body.get("messages") or []):
        if m.get("role") == "assistant" and m.get("tool_calls") and "reasoning_content" not in m:
            message = (f"Missing `reasoning_content` field in the assistant message at message index {i}. For "
                       "more information, please refer to https://api-docs.deepseek.com/guides/thinking_mode"
                       "#tool-calls" if flavor == "deepseek" else
                       f"thinking is enabled but reasoning_content is missing in assistant tool call message "
                       f"at index {i}")
            return 400, {"error": {"message": message, "type": "invalid_request_error", "param": None,
                                   "code": "invalid_request_error"}}
    return None


def check_openai_request(flavor: str, body: dict[str, Any]) -> Answer | None:
    if flavor == "mistral" and (extra := _mistral_extra(body)):
        return 422, {"object": "error", "message": {"detail": extra}, "type": "invalid_request_error",
                     "param": None, "code": None}
    if flavor == "groq" and (unsupported := _groq_unsupported(body)):
        return 400, {"error": {"message": unsupported, "type": "invalid_request_error"}}
    if flavor in ("deepseek", "kimi") and (refused := _unsent_reasoning(flavor, body)):
        return refused
    if flavor == "groq" and body.get("stream") and body.get("response_format") is not None:
        return 400, {"error": {"message": GROQ_NO_STREAM, "type": "invalid_request_error"}}
    model = str(body.get("model") or "").lower()
    if (flavor == "qwen" and QWEN3_OPEN.fullmatch(model) and not body.get("stream")
            and body.get("enable_thinking") is not False):
        return 400, {"error": {"code": "invalid_parameter_error", "param": None, "type": "invalid_request_error",
                               "message": "parameter.enable_thinking must be set to false for non-streaming calls"}}
    return None


def signature(thinking: str) -> str:
    """The fake's signature of a thinking block: a digest of its text, so a block sent back
    modified (or without its signature) is caught, as the real API catches it."""
    return "sig-" + hashlib.sha256(thinking.encode()).hexdigest()[:24]


def _invalid(message: str) -> Answer:
    return 400, {"type": "error", "error": {"type": "invalid_request_error", "message": message}}


def _blank_text(content: Any) -> bool:
    if isinstance(content, str):
        return not content.strip()
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("type") == "text" and not str(b.get("text") or "").strip() for b in content)


def thinking_enabled(body: dict[str, Any], model: str) -> bool:
    # the real switch is `thinking: {type: enabled}`; a model named *thinking*/*reasoner* is the
    # fake's own shortcut for tests that do not send it
    return ((body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
            or "reasoner" in model or "thinking" in model)


def check_anthropic_request(body: dict[str, Any]) -> Answer | None:
    messages = body.get("messages") or []
    for i, m in enumerate(messages):
        # Text content (a string is one text block) must hold non-whitespace text. The API's
        # words: anthropics/claude-code#23440; placeholders of " " fail it: NousResearch/hermes-agent#41985.
        if isinstance(m, dict) and _blank_text(m.get("content")):
            return _invalid(f"messages.{i}: text content blocks must contain non-whitespace text")
    if not thinking_enabled(body, str(body.get("model") or "")):
        return None
    # With thinking on, inside a tool loop the assistant turn that called the tools must start
    # with its thinking block, passed back unmodified with its signature.
    # https://docs.anthropic.com/en/docs/build-with-claude/extended-thinking#preserving-thinking-blocks ;
    # anthropic 2.14 types/thinking_block_param.py ("must be passed back unmodified"); the error text:
    # OpenRouterTeam/ai-sdk-provider#162, deepset-ai/haystack-core-integrations#2146.
    last = messages[-1] if messages else {}
    if not (last.get("role") == "user" and isinstance(last.get("content"), list)
            and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in last["content"])):
        return None
    j = next((k for k in range(len(messages) - 2, -1, -1) if messages[k].get("role") == "assistant"), None)
    if j is None:
        return None
    content = messages[j].get("content")
    first = content[0] if isinstance(content, list) and content else {}
    kind = first.get("type") if isinstance(first, dict) else "text"
    if kind not in ("thinking", "redacted_thinking"):
        return _invalid(f"messages.{j}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
                        f"`{kind}`. When `thinking` is enabled, a final `assistant` message must start with a "
                        "thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).")
    if kind == "thinking" and first.get("signature") != signature(str(first.get("thinking") or "")):
        return _invalid(f"messages.{j}.content.0: Invalid `signature` in `thinking` block")
    return None
