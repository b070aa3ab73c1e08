"""GLM (Zhipu BigModel): OpenAI wire under ``/api/paas/v4/``; files + fine-tuning jobs as OpenAI;
rerank asks for raw scores; finish reason ``sensitive`` means filtered.

Errors carry their meaning in ``error.code`` (:func:`glm_error_rule`): ``1113`` is arrears
although it comes as HTTP 429, ``1301`` a content-filter refusal (HTTP 400).

Inline images go as bare base64, without the ``data:image/...;base64,`` prefix: that is what the
official SDKs send (zhipuai 2.1.5.20250825 api_resource/chat/completions.py:73-76 calls
core/_utils/_utils.py ``drop_prefix_image_data`` on every message; zai-sdk 0.2.3 the same at
api_resource/chat/completions.py:123), after reports of GLM-4V refusing ``data:`` URLs
(QuantumNous/new-api#136, songquanpeng/one-api#1778). The current docs show URLs only, so whether
the API still refuses the prefix is not established; bare base64 is accepted either way.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import APIError, ContentFilteredError, QuotaExceededError
from .._provider_errors import body_code, register_error_rule
from ._finetune import OpenAIFineTuneAPI
from ._media import ImageRef
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["GLMChat", "GLMEmbedding", "GLMRerank", "glm_error_rule"]

# https://docs.bigmodel.cn/cn/faq/api-code (checked 2026-11-30): 1113 "余额不足或无可用资源包" (no
# balance or resource package) with HTTP 429; 1301 "系统检测到输入或生成内容可能包含不安全或敏感内容"
# with HTTP 400. As real users meet them: agentscope-ai/QwenPaw#202 (1113), langchain4j/langchain4j#1079 (1301).
_CODES: dict[str, type[APIError]] = {"1113": QuotaExceededError, "1301": ContentFilteredError}


def glm_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    return _CODES.get(body_code(body)[0])


register_error_rule("glm", glm_error_rule)


class GLMChat(OpenAIFineTuneAPI, OnlineChatModuleBase, source="glm"):
    default_system_prompt = ("You are ChatGLM, an AI assistant built on a language model trained by Zhipu AI. "
                             "Answer the user's questions and requests appropriately and helpfully.")
    default_base_url = "https://open.bigmodel.cn/api/paas/v4/"
    default_model = "glm-4"
    vlm_model_prefixes = ("glm-4v", "glm-4.1v", "glm-4.5v")
    message_extras = ("reasoning_content",)  # Preserved Thinking takes it back (online/_message_fields.py)

    def _image_part(self, ref: ImageRef) -> dict[str, Any]:
        url = ref.url
        if url.startswith("data:image/"):
            url = url.split("base64,")[-1]  # as the SDK's drop_prefix_image_data does (see the docstring)
        return {"type": "image_url", "image_url": {"url": url}}


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
