"""OpenRouter: one OpenAI-compatible endpoint in front of many vendors' models.

``https://openrouter.ai/api/v1/chat/completions``, ``Authorization: Bearer`` (``OPENROUTER_API_KEY``),
models named ``vendor/model``. Differences from OpenAI the base already handles
(https://openrouter.ai/docs/api-reference/streaming, /docs/use-cases/reasoning-tokens, checked
2026-11-30): streams may carry SSE comments (``: OPENROUTER PROCESSING``) to keep the connection
open, skipped by the SSE decoder; reasoning arrives as ``reasoning`` (not ``reasoning_content``).
"""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase

__all__ = ["OpenRouterChat"]


class OpenRouterChat(OnlineChatModuleBase, source="openrouter"):
    default_system_prompt = "You are a helpful assistant, reached through OpenRouter."
    default_base_url = "https://openrouter.ai/api/v1/"
    default_model = "openai/gpt-4o-mini"
