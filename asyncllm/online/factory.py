"""``OnlineChatModule`` / ``OnlineEmbeddingModule``: factories that return the provider's module.

``OnlineChatModule(source="qwen")`` is a :class:`~asyncllm.online.qwen.QwenChat`. With no
source: ``base_url`` alone means an OpenAI-compatible server; otherwise ``ASYNCLLM_DEFAULT_SOURCE``,
else the first provider (alphabetically) whose key is configured. ``isinstance(m,
OnlineChatModule)`` holds for every chat provider's module.

With ``ASYNCLLM_ONLINE_BASE_URL`` set, a module built without ``base_url`` / ``embed_url`` speaks
OpenAI's wire format to that endpoint, whatever its source (:mod:`.redirect`).

``source="dynamic"`` returns a router that picks the provider per call from the task's model
config (:mod:`.dynamic_router`, :mod:`.dynamic_config`).
"""

from __future__ import annotations

from typing import Any, Literal, overload

from .._config import config, env_names_for_key
from .._exceptions import ConfigError
from ._keys import ApiKey
from ._registry import CHAT, EMBED, EMBED_KINDS
from .chat_base import OnlineChatModuleBase
from .dynamic_router import DynamicChatRouter, DynamicEmbeddingRouter
from .embed_base import OnlineEmbeddingModuleBase
from .redirect import redirect_url, redirected_chat, redirected_embed

__all__ = ["OnlineChatModule", "OnlineEmbeddingModule"]

_LOCAL_ONLY = frozenset({"openai_compatible", "vllm", "llamacpp", "sglang", "ollama"})


class _FactoryMeta(type):
    _base: tuple[type, ...]

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._base)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._base)


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


class OnlineChatModule(metaclass=_FactoryMeta):
    """Factory: ``OnlineChatModule(model=None, source=None, base_url=None, stream=True, ...)``."""

    _base = (OnlineChatModuleBase, DynamicChatRouter)

    # Typed by source for callers: "dynamic" gives the router, any other source a provider.
    @overload
    def __new__(cls, model: str | None = None, *, source: Literal["dynamic"],  # type: ignore[overload-overlap, misc]
                **kw: Any) -> DynamicChatRouter: ...

    @overload
    def __new__(cls, model: str | None = None, source: str | None = None,  # type: ignore[misc]
                base_url: str | None = None,
                stream: bool = True, return_trace: bool = False, api_key: ApiKey = None, skip_auth: bool = False,
                **kw: Any) -> OnlineChatModuleBase: ...

    def __new__(  # type: ignore[misc]
        cls,
        model: str | None = None,
        source: str | None = None,
        base_url: str | None = None,
        stream: bool = True,
        return_trace: bool = False,
        api_key: ApiKey = None,
        skip_auth: bool = False,
        **kw: Any,
    ) -> OnlineChatModuleBase | DynamicChatRouter:
        from . import _load_providers

        _load_providers()
        if source is not None and source.lower() == "dynamic":
            return DynamicChatRouter(model=model, base_url=base_url, stream=stream, return_trace=return_trace,
                                     api_key=api_key, skip_auth=skip_auth, **kw)
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


def _infer_kind(model: str | None) -> str:
    m = (model or "").lower()
    if "rerank" in m:
        return "rerank"
    if "vision" in m or "multimodal" in m or "-vl-" in m:
        return "multimodal_embed"
    return "embed"


class OnlineEmbeddingModule(metaclass=_FactoryMeta):
    """Factory: ``OnlineEmbeddingModule(source=None, embed_url=None, embed_model_name=None,
    type="embed"|"rerank"|"multimodal_embed", api_key=None, ...)``."""

    _base = (OnlineEmbeddingModuleBase, DynamicEmbeddingRouter)

    @overload
    def __new__(cls, *, source: Literal["dynamic"], type: str,  # type: ignore[overload-overlap, misc]
                **kw: Any) -> DynamicEmbeddingRouter: ...

    @overload
    def __new__(cls, source: str | None = None, embed_url: str | None = None,  # type: ignore[misc]
                embed_model_name: str | None = None,
                type: str | None = None, api_key: ApiKey = None, skip_auth: bool = False,
                **kw: Any) -> OnlineEmbeddingModuleBase: ...

    def __new__(  # type: ignore[misc]
        cls,
        source: str | None = None,
        embed_url: str | None = None,
        embed_model_name: str | None = None,
        type: str | None = None,
        api_key: ApiKey = None,
        skip_auth: bool = False,
        **kw: Any,
    ) -> OnlineEmbeddingModuleBase | DynamicEmbeddingRouter:
        from . import _load_providers

        _load_providers()
        if source is not None and source.lower() == "dynamic":
            if type is None:
                raise ConfigError("source='dynamic' needs type='embed', 'rerank' or 'multimodal_embed' "
                                  "(the router's slot)")
            return DynamicEmbeddingRouter(type=type.lower(), embed_url=embed_url, embed_model_name=embed_model_name,
                                          api_key=api_key, skip_auth=skip_auth, **kw)
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
