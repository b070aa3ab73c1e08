"""GLM (Zhipu BigModel): OpenAI wire under ``/api/paas/v4/``; files + fine-tuning jobs as OpenAI;
rerank asks for raw scores; finish reason ``sensitive`` means filtered."""

from __future__ import annotations

from typing import Any

from ._finetune import OpenAIFineTuneAPI
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["GLMChat", "GLMEmbedding", "GLMRerank"]


class GLMChat(OpenAIFineTuneAPI, OnlineChatModuleBase, source="glm"):
    default_base_url = "https://open.bigmodel.cn/api/paas/v4/"
    default_model = "glm-4"
    vlm_model_prefixes = ("glm-4v", "glm-4.1v", "glm-4.5v")


class GLMEmbedding(OnlineEmbeddingModuleBase, source="glm"):
    default_url = "https://open.bigmodel.cn/api/paas/v4/embeddings"
    default_model = "embedding-2"


class GLMRerank(OnlineRerankModuleBase, source="glm"):
    default_url = "https://open.bigmodel.cn/api/paas/v4/rerank"
    default_model = "rerank"

    def _build_rerank_body(self, query: str, documents: list[str], top_n: int | None, model: str | None,
                           params: dict[str, Any]) -> dict[str, Any]:
        body = super()._build_rerank_body(query, documents, top_n, model, params)
        body.setdefault("return_documents", False)
        body.setdefault("return_raw_scores", True)
        return body
