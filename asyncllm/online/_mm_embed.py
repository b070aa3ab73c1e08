"""Multimodal embeddings: one input (text, an image, or both) → one vector, one request each.

An input is a str (text, or an image path / ``http(s)://`` / ``data:`` URL, told apart by the
suffix) or a dict with ``text`` and/or ``image`` / ``images``. Local images become base64 data
URLs (read in a worker thread). A provider says how the parts go on the wire
(:meth:`MultimodalEmbeddingBase._mm_body`) and where the vector is in the answer
(:meth:`MultimodalEmbeddingBase._mm_vector`); lists are embedded item by item, concurrently
up to the module's ``concurrency``.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError, ProtocolError
from ._media import IMAGE_SUFFIXES, ImageRef, to_image_refs
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["MultimodalEmbeddingBase", "multimodal_item"]


def _is_image(s: str) -> bool:
    return s.startswith("data:image/") or s.lower().split("?")[0].endswith(IMAGE_SUFFIXES)


async def multimodal_item(item: Any) -> tuple[str | None, list[ImageRef]]:
    """``(text, images)`` of one input."""
    if isinstance(item, str):
        item = {"image": item} if _is_image(item) else {"text": item}
    if not isinstance(item, dict) or not ({"text", "image", "images"} & set(item)):
        raise ConfigError("a multimodal input is a str (text or an image path/URL) or a dict with "
                          "'text' and/or 'image'")
    images = item.get("images") or ([item["image"]] if item.get("image") else [])
    text = item.get("text") or None
    if text is not None and not isinstance(text, str):
        raise ConfigError(f"'text' must be a str, got {type(text).__name__}")
    return text, await to_image_refs(images)


class MultimodalEmbeddingBase(OnlineEmbeddingModuleBase):
    """Base of the multimodal embedding providers (registered with ``kind="multimodal_embed"``)."""

    def __init__(self, *args: Any, **kw: Any) -> None:
        kw["batch_size"] = 1  # every provider here embeds one input per request
        super().__init__(*args, **kw)

    def _mm_body(self, text: str | None, images: list[ImageRef], model: str | None,
                 params: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def _mm_vector(self, data: Any, model: str | None) -> list[float]:
        raise NotImplementedError

    def _no_vector(self, data: Any, model: str | None, where: str) -> ProtocolError:
        return ProtocolError(f"{self.source} multimodal embedding answer has no {where}: {str(data)[:200]!r}",
                             provider=self.source, model=model)

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        out = []
        for item in batch:
            text, images = await multimodal_item(item)
            data = await self._post(self._mm_body(text, images, model, params), url)
            out.append(self._mm_vector(data, model))
        return out
