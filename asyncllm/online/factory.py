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

from .._exceptions import ConfigError
from ._keys import ApiKey
from ._select import build_chat, build_embed
from .chat_base import OnlineChatModuleBase
from .dynamic_router import DynamicChatRouter, DynamicEmbeddingRouter
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["OnlineChatModule", "OnlineEmbeddingModule"]


class _FactoryMeta(type):
    _base: tuple[type, ...]

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, cls._base)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls._base)


class OnlineChatModule(metaclass=_FactoryMeta):
    """Factory: ``OnlineChatModule(model=None, source=None, base_url=None, stream=True, ...)``."""

    _base = (OnlineChatModuleBase, DynamicChatRouter)

    # Typed by source for callers: "dynamic" gives the router, any other source a provider.
    @overload
    def __new__(cls, model: str | None = None, *, source: Literal["dynamic"],  # type: ignore[misc]
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
        if source is not None and source.lower() == "dynamic":
            return DynamicChatRouter(model=model, base_url=base_url, stream=stream, return_trace=return_trace,
                                     api_key=api_key, skip_auth=skip_auth, **kw)
        return build_chat(model, source, base_url, stream=stream, return_trace=return_trace, api_key=api_key,
                          skip_auth=skip_auth, **kw)


class OnlineEmbeddingModule(metaclass=_FactoryMeta):
    """Factory: ``OnlineEmbeddingModule(source=None, embed_url=None, embed_model_name=None,
    type="embed"|"rerank"|"multimodal_embed", api_key=None, ...)``."""

    _base = (OnlineEmbeddingModuleBase, DynamicEmbeddingRouter)

    @overload
    def __new__(cls, *, source: Literal["dynamic"], type: str,  # type: ignore[misc]
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
        if source is not None and source.lower() == "dynamic":
            if type is None:
                raise ConfigError("source='dynamic' needs type='embed', 'rerank' or 'multimodal_embed' "
                                  "(the router's slot)")
            return DynamicEmbeddingRouter(type=type.lower(), embed_url=embed_url, embed_model_name=embed_model_name,
                                          api_key=api_key, skip_auth=skip_auth, **kw)
        return build_embed(source, embed_url, embed_model_name, type, api_key=api_key, skip_auth=skip_auth, **kw)
