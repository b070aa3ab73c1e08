"""OpenAI: chat completions, embeddings, an OpenAI-style ``/rerank``, files + fine-tuning jobs."""

from __future__ import annotations

from ._finetune import OpenAIFineTuneAPI
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["OpenAIChat", "OpenAIEmbedding", "OpenAIRerank"]


class OpenAIChat(OpenAIFineTuneAPI, OnlineChatModuleBase, source="openai"):
    default_base_url = "https://api.openai.com/v1/"
    default_model = "gpt-4o-mini"
    vlm_model_prefixes = ("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4")


class OpenAIEmbedding(OnlineEmbeddingModuleBase, source="openai"):
    default_url = "https://api.openai.com/v1/embeddings"
    default_model = "text-embedding-3-small"


class OpenAIRerank(OnlineRerankModuleBase, source="openai"):
    default_url = "https://api.openai.com/v1/rerank"
    default_model = "rerank-multilingual-v3.0"
