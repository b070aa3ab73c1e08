"""Doubao (Volcengine Ark): OpenAI wire for chat and text embeddings; multimodal embeddings at
``/embeddings/multimodal`` take a list of text / image parts and answer one vector."""

from __future__ import annotations

from typing import Any

from ._media import ImageRef
from ._mm_embed import MultimodalEmbeddingBase
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["DoubaoChat", "DoubaoEmbedding", "DoubaoMultimodalEmbedding"]


class DoubaoChat(OnlineChatModuleBase, source="doubao"):
    default_base_url = "https://ark.cn-beijing.volces.com/api/v3/"
    default_model = "doubao-1-5-pro-32k-250115"
    vlm_model_prefixes = ("doubao-1-5-vision", "doubao-vision", "doubao-seed-1-6")


class DoubaoEmbedding(OnlineEmbeddingModuleBase, source="doubao"):
    default_url = "https://ark.cn-beijing.volces.com/api/v3/embeddings"
    default_model = "doubao-embedding-text-240715"


class DoubaoMultimodalEmbedding(MultimodalEmbeddingBase, source="doubao", kind="multimodal_embed"):
    """``/embeddings/multimodal``: an input's parts go as typed items; the answer is one vector."""

    default_url = "https://ark.cn-beijing.volces.com/api/v3/embeddings/multimodal"
    default_model = "doubao-embedding-vision-241215"
    url_suffix = "embeddings/multimodal"

    def _mm_body(self, text: str | None, images: list[ImageRef], model: str | None,
                 params: dict[str, Any]) -> dict[str, Any]:
        parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
        parts.extend({"type": "image_url", "image_url": {"url": ref.url}} for ref in images)
        return {"model": model, "input": parts, **self._static_params, **params}

    def _mm_vector(self, data: Any, model: str | None) -> list[float]:
        vec = (data.get("data") or {}).get("embedding") if isinstance(data, dict) else None
        if not isinstance(vec, list):
            raise self._no_vector(data, model, "data.embedding")
        return vec
