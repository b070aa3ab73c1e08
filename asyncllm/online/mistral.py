"""Mistral (La Plateforme): OpenAI-compatible chat and embeddings.

``https://api.mistral.ai/v1/chat/completions`` and ``/v1/embeddings``, ``Authorization: Bearer``
(``MISTRAL_API_KEY``). A stream's last chunk carries ``usage`` next to its ``finish_reason``
without being asked, and the request schema has no ``stream_options``
(https://docs.mistral.ai/api/#tag/chat/operation/chat_completion_v1_chat_completions_post,
checked 2026-11-30), so none is sent.
"""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["MistralChat", "MistralEmbedding"]


class MistralChat(OnlineChatModuleBase, source="mistral"):
    default_system_prompt = "You are a helpful, intelligent assistant provided by Mistral AI."
    default_base_url = "https://api.mistral.ai/v1/"
    default_model = "mistral-small-latest"
    stream_usage = False
    vlm_model_prefixes = ("pixtral", "mistral-medium", "mistral-small")
    # Mistral refuses any other field with a 422 (online/_message_fields.py); `prefix: true` on a last
    # assistant message is its own (docs.mistral.ai/guides/prefix; docs.litellm.ai/docs/completion/prefix)
    message_extras = ("prefix",)


class MistralEmbedding(OnlineEmbeddingModuleBase, source="mistral"):
    default_url = "https://api.mistral.ai/v1/embeddings"
    default_model = "mistral-embed"
