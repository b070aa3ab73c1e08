"""``ASYNCLLM_ONLINE_BASE_URL``: aim every online module at one OpenAI-compatible endpoint.

Set it to an OpenAI base URL (``http://127.0.0.1:8000/v1/``: llama.cpp, vLLM, a served asyncllm
module, a test double) and every chat, embedding and rerank module the factories build without
an explicit ``base_url`` / ``embed_url`` — any ``source``, dynamic routers' providers included —
speaks OpenAI's wire format to that endpoint instead of its provider: code written for
``source="claude"`` or ``"qwen"`` runs unchanged against a local server. What stays the same:
the model name (given, else the source's default), the source's default system prompt, and
where the key comes from (``api_key=``,
a list of keys, ``"dynamic"``, else the source's usual variables); a key is sent when there is
one, none is required. Multimodal embeddings have no OpenAI-compatible form and are refused.
"""

from __future__ import annotations

from typing import Any

from .._config import config
from .._exceptions import ConfigError
from ._registry import CHAT, EMBED
from .compatible import OpenAICompatibleChat, OpenAICompatibleEmbedding, OpenAICompatibleRerank

__all__ = ["ENV_NAME", "redirect_url", "redirected_chat", "redirected_embed"]

ENV_NAME = "ASYNCLLM_ONLINE_BASE_URL"

# One class per source, built on first use: the OpenAI-compatible client under the source's name,
# so its keys (and dynamic auth) are looked up as the source's.
_chat_classes: dict[str, type[OpenAICompatibleChat]] = {}
_embed_classes: dict[tuple[str, str], type[Any]] = {}


def redirect_url() -> str | None:
    """The endpoint every online module is aimed at, or None (the setting ``online_base_url``)."""
    url = config.get("online_base_url")
    if not url:
        return None
    url = str(url)
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"{ENV_NAME}={url!r} must be an http:// or https:// URL such as "
                          "http://127.0.0.1:8000/v1/; fix or unset it")
    return url


def redirected_chat(source: str | None) -> tuple[type[OpenAICompatibleChat], str | None]:
    """The client class for ``source`` aimed at the redirect endpoint, and the model to default to."""
    name = (source or config.get("default_source") or "openai_compatible").lower()
    provider = CHAT.get(name)
    if provider is None:
        raise ConfigError(f"unknown chat source {name!r}; known: {sorted(CHAT)}")
    cls = _chat_classes.get(name)
    if cls is None:
        # The source's default system prompt goes along: the endpoint sees the messages the
        # provider would have seen.
        cls = _chat_classes[name] = type(f"Redirected{provider.__name__}", (OpenAICompatibleChat,),
                                         {"source": name, "__module__": __name__, "__doc__": __doc__,
                                          "default_system_prompt": provider.default_system_prompt})
    return cls, provider.default_model


def redirected_embed(kind: str, source: str | None) -> tuple[type[Any], str | None]:
    """As :func:`redirected_chat`, for an embedding or rerank source."""
    if kind == "multimodal_embed":
        raise ConfigError(f"{ENV_NAME} aims online modules at an OpenAI-compatible endpoint, which has no "
                          "multimodal embeddings: pass embed_url=... for this module, or unset the variable")
    name = (source or config.get("default_source") or "openai_compatible").lower()
    provider = EMBED.get((kind, name))
    if provider is None:
        raise ConfigError(f"unknown {kind} source {name!r}; known: {sorted(s for k, s in EMBED if k == kind)}")
    base: type[Any] = OpenAICompatibleRerank if kind == "rerank" else OpenAICompatibleEmbedding
    cls = _embed_classes.get((kind, name))
    if cls is None:
        attrs: dict[str, Any] = {"source": name, "__module__": __name__, "__doc__": __doc__}
        cls = _embed_classes[(kind, name)] = type(f"Redirected{provider.__name__}", (base,), attrs)
    return cls, provider.default_model
