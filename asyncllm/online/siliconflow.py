"""SiliconFlow: OpenAI wire for chat, embeddings and ``/rerank``; multimodal embeddings on
``/embeddings`` with an input that is a text or a ``{text, image}`` object."""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError
from ._media import ImageRef
from ._mm_embed import MultimodalEmbeddingBase
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["SiliconFlowChat", "SiliconFlowEmbedding", "SiliconFlowMultimodalEmbedding", "SiliconFlowRerank"]


class SiliconFlowChat(OnlineChatModuleBase, source="siliconflow"):
    default_system_prompt = "You are a helpful, intelligent assistant provided by SiliconFlow."
    default_base_url = "https://api.siliconflow.cn/v1/"
    default_model = "Qwen/Qwen3-8B"
    vlm_model_prefixes = ("qwen/qwen2.5-vl", "qwen/qwen3-vl", "deepseek-ai/deepseek-vl")


class SiliconFlowEmbedding(OnlineEmbeddingModuleBase, source="siliconflow"):
    default_url = "https://api.siliconflow.cn/v1/embeddings"
    default_model = "BAAI/bge-large-zh-v1.5"


class SiliconFlowRerank(OnlineRerankModuleBase, source="siliconflow"):
    default_url = "https://api.siliconflow.cn/v1/rerank"
    default_model = "BAAI/bge-reranker-v2-m3"


class SiliconFlowMultimodalEmbedding(MultimodalEmbeddingBase, source="siliconflow", kind="multimodal_embed"):
    default_url = "https://api.siliconflow.cn/v1/embeddings"
    default_model = "Qwen/Qwen3-VL-Embedding-8B"

    def _mm_body(self, text: str | None, images: list[ImageRef], model: str | None,
                 params: dict[str, Any]) -> dict[str, Any]:
        if len(images) > 1:
            raise ConfigError("siliconflow embeds at most one image per input; pass the others as separate inputs")
        item: Any = text
        if images:
            item = {"image": images[0].url} if text is None else {"text": text, "image": images[0].url}
        return {"model": model, "input": [item], **self._static_params, **params}

    def _mm_vector(self, data: Any, model: str | None) -> list[float]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != 1 or not isinstance(items[0].get("embedding"), list):
            raise self._no_vector(data, model, "data[0].embedding")
        vec: list[float] = items[0]["embedding"]
        return vec
