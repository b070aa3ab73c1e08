"""Any OpenAI-compatible server (vLLM, llama.cpp, SGLang, a served asyncllm module).

``OnlineChatModule(base_url="http://127.0.0.1:8000/v1/")`` lands here: no key needed (one is
sent when given), and with no ``model`` the server's first listed model is used. The engine
names are sources too, with their usual local default address. Ollama speaks its native API
(``ollama.py``); its OpenAI-compatible ``/v1`` works here too, through ``base_url``.
"""

from __future__ import annotations

from typing import ClassVar

from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase

__all__ = ["LlamaCppChat", "OpenAICompatibleChat", "OpenAICompatibleEmbedding",
           "OpenAICompatibleRerank", "SGLangChat", "VLLMChat"]


class OpenAICompatibleChat(OnlineChatModuleBase, source="openai_compatible"):
    structured_output = "json_schema"  # what vLLM and SGLang take (OpenAI's response_format)
    key_required: ClassVar[bool] = False
    default_model = None


class VLLMChat(OpenAICompatibleChat, source="vllm"):
    default_base_url = "http://127.0.0.1:8000/v1/"


class LlamaCppChat(OpenAICompatibleChat, source="llamacpp"):
    structured_output = "json_object_schema"  # llama_cpp/llama_chat_format.py: json_object + schema
    default_base_url = "http://127.0.0.1:8080/v1/"


class SGLangChat(OpenAICompatibleChat, source="sglang"):
    default_base_url = "http://127.0.0.1:30000/v1/"


class OpenAICompatibleEmbedding(OnlineEmbeddingModuleBase, source="openai_compatible"):
    key_required: ClassVar[bool] = False


class OpenAICompatibleRerank(OnlineRerankModuleBase, source="openai_compatible"):
    key_required: ClassVar[bool] = False
