"""Online model providers: chat, embedding and rerank clients over the pooled HTTP layer.

``OnlineChatModule`` / ``OnlineEmbeddingModule`` pick the provider class; each provider is one
file here, a small subclass of ``OnlineChatModuleBase`` / ``OnlineEmbeddingModuleBase`` /
``OnlineRerankModuleBase`` registered under its source name. ``source="dynamic"`` gives a router
that picks the provider per call (``dynamic_chat_config`` / ``dynamic_embed_config``).
"""

from __future__ import annotations

import importlib

from ._registry import CHAT, EMBED
from .chat_base import OnlineChatModuleBase
from .dynamic_config import DynamicModelConfig, dynamic_chat_config, dynamic_embed_config
from .dynamic_router import DynamicChatRouter, DynamicEmbeddingRouter
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase
from .factory import OnlineChatModule, OnlineEmbeddingModule
from .file_handler import FileHandlerBase

__all__ = [
    "CHAT",
    "EMBED",
    "DynamicChatRouter",
    "DynamicEmbeddingRouter",
    "DynamicModelConfig",
    "FileHandlerBase",
    "OnlineChatModule",
    "OnlineChatModuleBase",
    "OnlineEmbeddingModule",
    "OnlineEmbeddingModuleBase",
    "OnlineRerankModuleBase",
    "dynamic_chat_config",
    "dynamic_embed_config",
]

PROVIDERS = ("azure", "claude", "compatible", "deepseek", "doubao", "gemini", "glm", "groq", "kimi", "minimax",
             "mistral", "ollama", "openai", "openrouter", "qwen", "sensenova", "siliconflow", "together")
_loaded = False


def _load_providers() -> None:
    """Import every built-in provider module (each registers itself on import)."""
    global _loaded
    if not _loaded:
        for name in PROVIDERS:
            importlib.import_module(f"{__name__}.{name}")
        _loaded = True
