"""Together AI: OpenAI-compatible chat and embeddings at ``https://api.together.xyz/v1/``
(``TOGETHER_API_KEY``).

A stream's last chunk carries ``usage`` next to its ``finish_reason``
(https://docs.together.ai/reference/chat-completions-1, checked 2026-11-30): the base reads it
from whichever chunk has it.
"""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["TogetherChat", "TogetherEmbedding"]


class TogetherChat(OnlineChatModuleBase, source="together"):
    default_system_prompt = "You are a helpful assistant, served through Together AI."
    default_base_url = "https://api.together.xyz/v1/"
    default_model = "meta-llama/Llama-3.3-70B-Instruct-Turbo"


class TogetherEmbedding(OnlineEmbeddingModuleBase, source="together"):
    default_url = "https://api.together.xyz/v1/embeddings"
    default_model = "BAAI/bge-base-en-v1.5"
