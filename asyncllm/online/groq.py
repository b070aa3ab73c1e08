"""Groq: OpenAI-compatible chat at ``https://api.groq.com/openai/v1/`` (``GROQ_API_KEY``).

A stream reports its usage in the last chunk under ``x_groq.usage``
(https://console.groq.com/docs/api-reference#chat-create, checked 2026-11-30); it is lifted to
the top level here, where the base reads it. Reasoning models send ``reasoning`` (with
``reasoning_format="parsed"``), which the base reads too. No embeddings endpoint.
"""

from __future__ import annotations

from typing import Any

from ..streaming.sse import SSEEvent
from .chat_base import OnlineChatModuleBase

__all__ = ["GroqChat"]


class GroqChat(OnlineChatModuleBase, source="groq"):
    default_system_prompt = "You are a helpful assistant, served through Groq."
    default_base_url = "https://api.groq.com/openai/v1/"
    default_model = "llama-3.3-70b-versatile"
    # Groq refuses a streamed request with response_format (JSON mode: "Does not support streaming",
    # https://console.groq.com/docs/text-chat; Structured Outputs: "streaming is not currently
    # supported"; the 400 users meet: langchain-ai/langchain#23629): output_type= is one request.
    structured_streams = False
    # Groq refuses any message field but OpenAI's, reasoning_content included (online/_message_fields.py)
    message_extras = ()

    def _convert_frame(self, event: SSEEvent) -> dict[str, Any] | None:
        frame = super()._convert_frame(event)
        if frame is not None and not frame.get("usage") and isinstance(x := frame.get("x_groq"), dict) \
                and (u := x.get("usage")):
            frame["usage"] = u
        return frame
