"""How each OpenAI-wire provider bends the chat-completions answer: where reasoning goes, where
stream usage goes. The chat route asks these helpers by flavour; each answer names its source
(checked 2026-11-30).
"""

from __future__ import annotations

from typing import Any

# The field a reasoning model's chain of thought arrives in, in `message` and in stream `delta`.
# * reasoning_content: DeepSeek (https://api-docs.deepseek.com/guides/reasoning_model), DashScope
#   compatible mode, GLM, Kimi, Ark — the default here.
# * reasoning: vLLM renamed it (https://docs.vllm.ai/en/v0.26.0/features/reasoning_outputs/ : "reasoning
#   used to be called reasoning_content"); SenseNova's API sends `reasoning`
#   (github.com/OpenSenseNova/SenseNova6.7 API.md §4.3 and §8.1).
# * reasoning: OpenRouter (https://openrouter.ai/docs/use-cases/reasoning-tokens : "reasoning" in
#   the message and in stream deltas); Groq with reasoning_format="parsed"
#   (https://console.groq.com/docs/reasoning).
_REASONING_FIELD = {"vllm": "reasoning", "sensenova": "reasoning", "openrouter": "reasoning", "groq": "reasoning"}


def reasoning_field(flavor: str) -> str:
    return _REASONING_FIELD.get(flavor, "reasoning_content")


def minimax_split(body: dict[str, Any]) -> bool:
    """MiniMax puts reasoning in ``reasoning_details`` only when ``reasoning_split`` is true; without
    it the thinking arrives inside ``content`` wrapped in ``<think>…</think>``.
    https://platform.minimax.io/docs/api-reference/text-openai-api ("content field will contain
    <think> tag content"; "reasoning_split=True ... reasoning_details field")."""
    return bool(body.get("reasoning_split"))


def reasoning_parts(flavor: str, body: dict[str, Any], text: str) -> dict[str, Any]:
    """The message / delta fields that carry ``text`` as reasoning, for this flavour."""
    if flavor == "minimax":
        if minimax_split(body):
            # stream deltas are incremental pieces, not the text so far: MiniMax-AI/MiniMax-M2#95
            return {"reasoning_details": [{"type": "reasoning.text", "id": "reasoning-text-1", "text": text}]}
        return {}  # it goes into content as <think>…</think> (see think_prefix)
    return {reasoning_field(flavor): text}


def thinks_in_content(flavor: str, body: dict[str, Any]) -> bool:
    return flavor == "minimax" and not minimax_split(body)


def usage_in_last_chunk(flavor: str) -> bool:
    """Mistral and Together put ``usage`` on the finishing chunk (beside ``finish_reason``), asked
    for or not, with no usage-only chunk after it: Mistral's stream as users quote it
    (dnakov/anon-kode#53: "Usage data is included by default"); Together's
    https://docs.together.ai/reference/chat-completions-1 (the last chunk's ``usage``)."""
    return flavor in ("mistral", "together")


def usage_in_x_groq(flavor: str) -> bool:
    """Groq reports a stream's usage in the last chunk under ``x_groq.usage``
    (https://console.groq.com/docs/api-reference#chat-create, the ``x_groq`` field)."""
    return flavor == "groq"


def keepalive_comment(flavor: str) -> bytes | None:
    """OpenRouter opens streams with SSE comments while the model starts
    (https://openrouter.ai/docs/api-reference/streaming : ": OPENROUTER PROCESSING")."""
    return b": OPENROUTER PROCESSING\n\n" if flavor == "openrouter" else None


def usage_in_choice(flavor: str) -> bool:
    """Kimi (Moonshot) streams its usage inside ``choices[0]`` of the finishing chunk, not as a
    top-level field of a trailing chunk; it does so whether or not ``stream_options`` is sent.
    Moonshot's stream example (platform.moonshot.cn/docs/api/chat), as quoted in
    northes/go-moonshot#17 and higress-group/higress#1568; earendil-works/pi#2017 (Kimi K2.5)."""
    return flavor == "kimi"


def sensenova_extras(flavor: str) -> bool:
    """SenseNova's answers carry a top-level ``request_id``, and its ``prompt_tokens_details`` an
    ``audio_tokens`` count (OpenSenseNova/SenseNova6.7 API.md §4.3)."""
    return flavor == "sensenova"


def usage_event_always(flavor: str) -> bool:
    """SenseNova ends every stream with a usage-only event (``choices: []``), asked for or not
    (API.md §8.1: "Just before completion, the server pushes a single usage-only event")."""
    return flavor == "sensenova"


def unfinished(flavor: str) -> str | None:
    """The ``finish_reason`` of the chunks before the last: ``null`` on the OpenAI wire, ``""`` in
    SenseNova's stream (API.md §8.1)."""
    return "" if flavor == "sensenova" else None
