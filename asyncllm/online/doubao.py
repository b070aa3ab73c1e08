"""Doubao (Volcengine Ark): OpenAI wire for chat and text embeddings; multimodal embeddings at
``/embeddings/multimodal`` take a list of text / image parts and answer one vector."""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError, ProtocolError
from ._media import IMAGE_SUFFIXES, to_image_refs
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


def _is_image(s: str) -> bool:
    return s.startswith("data:image/") or s.lower().split("?")[0].endswith(IMAGE_SUFFIXES)


class DoubaoMultimodalEmbedding(OnlineEmbeddingModuleBase, source="doubao", kind="multimodal_embed"):
    """One input = a str (text, or an image path/URL) or ``{"text": ..., "image": path_or_url}``;
    each input is one request (the API embeds its parts into a single vector)."""

    default_url = "https://ark.cn-beijing.volces.com/api/v3/embeddings/multimodal"
    default_model = "doubao-embedding-vision-241215"
    url_suffix = "embeddings/multimodal"

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw["batch_size"] = 1
        super().__init__(*args, **kw)

    async def _parts(self, item: Any) -> list[dict[str, Any]]:
        if isinstance(item, str):
            item = {"image": item} if _is_image(item) else {"text": item}
        if not isinstance(item, dict) or not ({"text", "image", "images"} & set(item)):
            raise ConfigError("a multimodal input is a str or a dict with 'text' and/or 'image'")
        parts: list[dict[str, Any]] = []
        if item.get("text"):
            parts.append({"type": "text", "text": item["text"]})
        images = item.get("images") or ([item["image"]] if item.get("image") else [])
        for ref in await to_image_refs(images):
            parts.append({"type": "image_url", "image_url": {"url": ref.url}})
        return parts

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        out = []
        for item in batch:
            body = {"model": model, "input": await self._parts(item), **self._static_params, **params}
            data = await self._post(body, url)
            vec = (data.get("data") or {}).get("embedding") if isinstance(data, dict) else None
            if not isinstance(vec, list):
                raise ProtocolError(f"doubao multimodal embedding answer has no data.embedding: {str(data)[:200]!r}",
                                    provider="doubao", model=model)
            out.append(vec)
        return out
