"""SiliconFlow: OpenAI wire for chat, embeddings and ``/rerank``."""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["SiliconFlowChat", "SiliconFlowEmbedding", "SiliconFlowRerank"]


class SiliconFlowChat(OnlineChatModuleBase, source="siliconflow"):
    default_base_url = "https://api.siliconflow.cn/v1/"
    default_model = "Qwen/Qwen3-8B"
    vlm_model_prefixes = ("qwen/qwen2.5-vl", "qwen/qwen3-vl", "deepseek-ai/deepseek-vl")


class SiliconFlowEmbedding(OnlineEmbeddingModuleBase, source="siliconflow"):
    default_url = "https://api.siliconflow.cn/v1/embeddings"
    default_model = "BAAI/bge-large-zh-v1.5"


class SiliconFlowRerank(OnlineRerankModuleBase, source="siliconflow"):
    default_url = "https://api.siliconflow.cn/v1/rerank"
    default_model = "BAAI/bge-reranker-v2-m3"
