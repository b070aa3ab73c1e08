"""Which fields of a history's messages an OpenAI-wire request carries: one rule, applied once.

An assistant message in a history carries what its provider sent beside the answer and needs
back next turn: Claude's signed ``thinking_blocks``, ``reasoning_content`` (DeepSeek's name, which
several providers took), Gemini 3's ``extra_content.google.thought_signature`` on a tool call.
A provider declares the fields it takes back in ``message_extras`` (chat_base.py). The rule:

    a provider's body carries OpenAI's own message and tool-call fields plus the ones that
    provider declares; every other field — another provider's — is dropped before the wire.

The OpenAI-wire body builder (``OnlineChatModuleBase._build_body``) applies it to every message
and every tool call by :func:`wire_messages`. Claude, Gemini and Ollama build their bodies from
the fields they know (claude.py, gemini.py, ollama.py), which is the same rule by construction.
A declared name is kept wherever it appears, on the message or on one of its tool calls.

The facts behind it (checked 2026-11-30):

* OpenAI's own message fields are the ``ChatCompletion*MessageParam`` TypedDicts of the official
  SDK (openai 3.57 types/chat/: role, content, name, tool_calls, tool_call_id, function_call,
  refusal, audio) and a call's are id, type, function (custom tools: custom). There is no
  ``reasoning_content``: OpenAI's answer to the SDK PR adding it was "This property is not
  supported on chat completions" (openai/openai-python#2192). Chat Completions has answered an
  unknown message field with 400 "Additional properties are not allowed ('id' was unexpected) -
  'messages.0'" (2023: transitive-bullshit/agentic#531, adamrushy/OpenAISwift#99); in 2025 it let
  them pass where the Responses API answered 400 "Unknown parameter: 'input[1].metadata'"
  (microsoft/agent-framework#2203, #2344). Either way they are not OpenAI's to read.
* Mistral validates every message strictly: an assistant ``reasoning_content`` is 422
  ``extra_forbidden`` at ``["body", "messages", i, "assistant", "reasoning_content"]``
  (charmbracelet/crush#1590, BerriAI/litellm#30835).
* Groq: 400 "'messages.1' : for 'role:assistant' the following must be satisfied[('messages.1' :
  property 'reasoning_content' is unsupported)]" (janhq/jan#8136, NousResearch/hermes-agent#11089).
* DeepSeek wants ``reasoning_content`` back: in thinking mode (deepseek-reasoner, the V3.2 and V4
  models with ``thinking`` on) every assistant turn that called tools must carry it in all later
  requests, else 400 "Missing `reasoning_content` field in the assistant message at message index
  N" (anomalyco/opencode#9397; zed-industries/zed#44301), worded since V4 "The reasoning_content in
  the thinking mode must be passed back to the API." (anomalyco/opencode#24083, crewAIInc/crewAI#5878);
  on turns without tool calls it is ignored (api-docs.deepseek.com/guides/thinking_mode, as
  anomalyco/opencode#24722 quotes it). The older deepseek-reasoner (R1) rule, a 400 when input
  carried it, is gone with R1.
* Kimi wants it back the same way: 400 "thinking is enabled but reasoning_content is missing in
  assistant tool call message at index N" (continuedev/continue#11600, #11711 and #11806).
* GLM takes it back for Preserved Thinking (docs.z.ai/guides/capabilities/thinking-mode,
  ``thinking.clear_thinking: false``; as RooCodeInc/Roo-Code#10282 and adolfousier/opencrabs#1348
  read it). DashScope's compatible mode (Qwen) takes it back: dashscope 2.0.2
  v2/protocols/openai.py echoes an assistant turn's ``reasoning_content`` ("Reasoning models
  require prior turns' reasoning_content echoed back").
* Ark (Doubao): volcengine-ark 5.0.54's ``ChatCompletionAssistantMessageParam`` has no
  ``reasoning_content`` (it is on the answer only), so it is not sent.
* Claude takes back its signed ``thinking_blocks`` (claude.py); Gemini the ``extra_content`` of a
  tool call (gemini.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["OPENAI_CALL_FIELDS", "OPENAI_MESSAGE_FIELDS", "wire_messages"]

OPENAI_MESSAGE_FIELDS = frozenset({"role", "content", "name", "tool_calls", "tool_call_id", "function_call",
                                   "refusal", "audio"})
OPENAI_CALL_FIELDS = frozenset({"id", "type", "function", "custom"})


def wire_messages(messages: list[dict[str, Any]], keep: frozenset[str],
                  keep_on_calls: frozenset[str]) -> list[dict[str, Any]]:
    """``messages`` with only the fields in ``keep`` (on a message) and ``keep_on_calls`` (on a
    tool call). The list itself when nothing is dropped: a plain history is walked once and
    copied not at all."""
    out: list[dict[str, Any]] | None = None
    for i, m in enumerate(messages):
        # the plain message first: as cheap as the one lookup this walk cost before the rule
        # (a keys-view comparison is 3-4x that: it was measured on the per-call path)
        if len(m) == 2 and "content" in m and "role" in m:
            continue
        if m.keys() <= keep:
            calls = m.get("tool_calls")
            if not calls or all(not isinstance(c, dict) or c.keys() <= keep_on_calls for c in calls):
                continue
        if out is None:
            out = list(messages)
        kept = {k: v for k, v in m.items() if k in keep}
        if calls := kept.get("tool_calls"):
            kept["tool_calls"] = [{k: v for k, v in c.items() if k in keep_on_calls} if isinstance(c, dict) else c
                                  for c in calls]
        out[i] = kept
    return messages if out is None else out
