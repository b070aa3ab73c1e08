"""Which provider class a module is: the source and endpoint resolution behind the factories.

``OnlineChatModule(...)`` / ``OnlineEmbeddingModule(...)`` (:mod:`.factory`) and the dynamic routers
(:mod:`.dynamic_router`), which build a provider per call from the task's model config, resolve a
source here, so neither imports the other.
"""

from __future__ import annotations

from typing import Any

from .._config import config, env_names_for_key
from .._exceptions import ConfigError
from ._keys import ApiKey
from ._registry import CHAT, EMBED, EMBED_KINDS
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase
from .redirect import redirect_url, redirected_chat, redirected_embed

__all__ = ["build_chat", "build_embed"]

#: sources that run locally and need no key: never picked by "whichever provider has a key"
_LOCAL_ONLY = frozenset({"openai_compatible", "vllm", "llamacpp", "sglang", "ollama"})


def _pick_source(candidates: list[str], what: str) -> str:
    default = config.get("default_source")
    if default:
        if default.lower() not in candidates:
            raise ConfigError(f"ASYNCLLM_DEFAULT_SOURCE={default!r} has no {what}; choose from {candidates}")
        return str(default).lower()
    keyed = [s for s in sorted(candidates) if s not in _LOCAL_ONLY]
    for s in keyed:
        if config.api_key(s) is not None:
            return s
    names = ", ".join(n for s in keyed for n in env_names_for_key(s))
    raise ConfigError(f"no {what} source is configured: pass source=... (one of {keyed}) or set an API key in "
                      f"one of: {names}; for a local OpenAI-compatible server pass base_url=...")


def _unknown(source: str, known: list[str], what: str) -> ConfigError:
    return ConfigError(f"unknown {what} source {source!r}; known: {sorted(known)}")


def _infer_kind(model: str | None) -> str:
    m = (model or "").lower()
    if "rerank" in m:
        return "rerank"
    if "vision" in m or "multimodal" in m or "-vl-" in m:
        return "multimodal_embed"
    return "embed"


def build_chat(model: str | None, source: str | None, base_url: str | None, *, stream: bool,
               return_trace: bool, api_key: ApiKey, skip_auth: bool, **kw: Any) -> OnlineChatModuleBase:
    """The chat provider module for ``source`` (or the configured default), at ``base_url``."""
    from . import _load_providers

    _load_providers()
    base_url = base_url or kw.pop("url", None)
    if model and source is None and model.lower() in CHAT:
        source, model = model, None  # OnlineChatModule("qwen") names a source
    if not base_url and (redirect := redirect_url()):
        chat_cls, default_model = redirected_chat(source)
        return chat_cls(model or default_model, base_url=redirect, stream=stream, return_trace=return_trace,
                        api_key=api_key, skip_auth=skip_auth, **kw)
    if source is None:
        source = "openai_compatible" if base_url else _pick_source(list(CHAT), "chat")
    impl = CHAT.get(source.lower())
    if impl is None:
        raise _unknown(source, list(CHAT), "chat")
    return impl(model, base_url=base_url, stream=stream, return_trace=return_trace,  # type: ignore[no-any-return]
                api_key=api_key, skip_auth=skip_auth, **kw)


def build_embed(source: str | None, embed_url: str | None, embed_model_name: str | None, type: str | None, *,
                api_key: ApiKey, skip_auth: bool, **kw: Any) -> OnlineEmbeddingModuleBase:
    """The embedding / rerank provider module of kind ``type`` for ``source``, at ``embed_url``."""
    from . import _load_providers

    _load_providers()
    embed_url = embed_url or kw.pop("base_url", None) or kw.pop("url", None)
    embed_model_name = embed_model_name or kw.pop("model", None) or kw.pop("model_name", None)
    kind = (type or _infer_kind(embed_model_name)).lower()
    if kind not in EMBED_KINDS:
        raise ConfigError(f"type must be one of {EMBED_KINDS}, got {type!r}")
    if not embed_url and (redirect := redirect_url()):
        embed_cls, default_model = redirected_embed(kind, source)
        return embed_cls(redirect, embed_model_name or default_model,  # type: ignore[no-any-return]
                         api_key=api_key, skip_auth=skip_auth, **kw)
    sources = [s for (k, s) in EMBED if k == kind]
    if source is None:
        source = "openai_compatible" if embed_url and kind != "multimodal_embed" else _pick_source(sources, kind)
    impl = EMBED.get((kind, source.lower()))
    if impl is None:
        raise _unknown(source, sources, kind)
    return impl(embed_url, embed_model_name, api_key=api_key,  # type: ignore[no-any-return]
                skip_auth=skip_auth, **kw)
