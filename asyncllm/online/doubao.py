"""Doubao (Volcengine Ark): OpenAI wire for chat and text embeddings; multimodal embeddings at
``/embeddings/multimodal`` take a list of text / image parts and answer one vector.

Errors carry their meaning in ``error.code`` (:func:`ark_error_rule`): arrears come as HTTP 403
``AccountOverdueError``, content-filter refusals as HTTP 400 ``*SensitiveContentDetected*`` /
``*RiskDetection``.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import APIError, ContentFilteredError, QuotaExceededError
from .._provider_errors import body_code, register_error_rule
from ._media import ImageRef
from ._mm_embed import MultimodalEmbeddingBase
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["DoubaoChat", "DoubaoEmbedding", "DoubaoMultimodalEmbedding", "ark_error_rule"]

# https://www.volcengine.com/docs/82379/1299023 (方舟错误码, checked 2026-11-30): 403 AccountOverdueError
# ("your account has an overdue balance") and 403 OperationDenied.ServiceOverdue are arrears; 400
# SensitiveContentDetected[.*], Input/OutputText/Image/VideoSensitiveContentDetected[.*] and
# Input/OutputText/ImageRiskDetection are the content filter refusing the request or the answer.
_OVERDUE = frozenset({"AccountOverdueError", "OperationDenied.ServiceOverdue"})


def ark_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    code = body_code(body)[0]
    if code in _OVERDUE:
        return QuotaExceededError
    if "SensitiveContentDetected" in code or code.endswith("RiskDetection"):
        return ContentFilteredError
    return None


register_error_rule("doubao", ark_error_rule)


class DoubaoChat(OnlineChatModuleBase, source="doubao"):
    default_system_prompt = ("You are Doubao, an AI assistant. Answer the user's questions and requests "
                             "appropriately and helpfully.")
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
