"""DeepSeek: OpenAI wire at ``https://api.deepseek.com/chat/completions`` (no ``/v1``);
``deepseek-reasoner`` streams ``reasoning_content``."""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase

__all__ = ["DeepSeekChat"]


class DeepSeekChat(OnlineChatModuleBase, source="deepseek"):
    default_system_prompt = "You are a helpful, intelligent assistant developed by DeepSeek of China."
    default_base_url = "https://api.deepseek.com/"
    default_model = "deepseek-chat"
    # thinking mode: a tool-calling turn's reasoning_content must come back (online/_message_fields.py);
    # `prefix: true` on a last assistant message is chat prefix completion (api-docs.deepseek.com/guides/
    # chat_prefix_completion, base_url .../beta)
    message_extras = ("reasoning_content", "prefix")
