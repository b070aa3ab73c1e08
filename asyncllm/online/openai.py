"""OpenAI: chat completions, embeddings, files + fine-tuning jobs.

OpenAI has no rerank endpoint (https://platform.openai.com/docs/api-reference, checked
2026-11-30), so ``source="openai", type="rerank"`` only means "the OpenAI-style ``/rerank`` body
of a compatible server" and needs that server's ``embed_url``.
"""

from __future__ import annotations

from .._exceptions import ConfigError
from ._finetune import OpenAIFineTuneAPI
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["SYSTEM_PROMPT", "OpenAIChat", "OpenAIEmbedding", "OpenAIRerank"]

#: the default system prompt of OpenAI's models (also behind Azure OpenAI)
SYSTEM_PROMPT = "You are ChatGPT, a large language model made by OpenAI, and a helpful assistant."


class OpenAIChat(OpenAIFineTuneAPI, OnlineChatModuleBase, source="openai"):
    default_system_prompt = SYSTEM_PROMPT
    structured_output = "json_schema"  # platform.openai.com/docs/guides/structured-outputs
    default_base_url = "https://api.openai.com/v1/"
    default_model = "gpt-4o-mini"
    vlm_model_prefixes = ("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4")


class OpenAIEmbedding(OnlineEmbeddingModuleBase, source="openai"):
    default_url = "https://api.openai.com/v1/embeddings"
    default_model = "text-embedding-3-small"


class OpenAIRerank(OnlineRerankModuleBase, source="openai"):
    """``{query, documents, top_n, model}`` → ``results[]`` at a compatible server's ``/rerank``."""

    default_url = ""  # api.openai.com has no /rerank: an embed_url is required
    default_model = None

    def _embed_url(self, url: str | None) -> str:
        if not url:
            raise ConfigError("OpenAI has no rerank endpoint: pass embed_url=... of a server with an OpenAI-style "
                              "/rerank (vLLM, Jina, a served asyncllm module), or use source='qwen', 'glm' or "
                              "'siliconflow'")
        return super()._embed_url(url)
