"""Dynamic routers: one module whose provider is chosen per call from the task's model config.

``OnlineChatModule(source="dynamic")`` and ``OnlineEmbeddingModule(source="dynamic", type=...)``
return these. Each call reads the config for the router's slot (see :mod:`.dynamic_config`),
builds the provider for ``(source, base_url, skip_auth)`` the first time it is needed, keeps it,
and forwards the call to it, ``model`` included unless the caller passed one. Streaming passes
the provider's tokens through. The providers read their key per call (dynamic auth): a provider
built during one user's call serves the next user's call with that user's key.

Providers are children for usage: their token counts add up under the router's id. ``stop()``
stops and forgets them.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing
from typing import Any
from weakref import WeakKeyDictionary

import anyio
from anyio.lowlevel import RunVar

from .._context import peek_session
from .._exceptions import ConfigError
from ..modules.base import ModuleBase
from ..prompts.base import EmptyPrompter, PrompterBase
from ..prompts.formatters import EmptyFormatter, FormatterBase
from ..prompts.llm import LLMBuilders
from ._keys import ApiKey, is_dynamic
from ._select import build_chat, build_embed
from .dynamic_config import DynamicModelConfig, model_config_for

__all__ = ["DynamicChatRouter", "DynamicEmbeddingRouter"]

RouteKey = tuple[str, str | None, bool]


# One build lock per router and event loop: an anyio lock belongs to the loop that first used
# it, and a module may outlive a loop (a module-level router used by successive anyio.run()s).
_BUILD_LOCKS: RunVar[WeakKeyDictionary[_Routes, anyio.Lock]] = RunVar("asyncllm_router_build_locks")


class _Routes:
    """A router's built providers and the lock that keeps it to one build per route. A copy of
    a router (deepcopy, share) starts with none: its providers would be another module's."""

    __slots__ = ("__weakref__", "providers")

    def __init__(self) -> None:
        self.providers: dict[RouteKey, Any] = {}

    def lock(self) -> anyio.Lock:
        try:
            locks = _BUILD_LOCKS.get()
        except LookupError:
            locks = WeakKeyDictionary()
            _BUILD_LOCKS.set(locks)
        lock = locks.get(self)
        if lock is None:
            lock = locks[self] = anyio.Lock()
        return lock

    def __deepcopy__(self, memo: dict[int, Any]) -> _Routes:
        return _Routes()


# How the error messages tell the user to configure each slot.
_HINTS = {"chat": "dynamic_chat_config(", "embed": "dynamic_embed_config(",
          "rerank": "dynamic_embed_config(type='rerank', ",
          "multimodal_embed": "dynamic_embed_config(type='multimodal_embed', "}


class _DynamicRouter(ModuleBase):
    """What the chat and embedding routers share: the config lookup, the provider cache, stop."""

    def __init__(self, slot: str, *, api_key: ApiKey = None, dynamic_auth: bool = False, skip_auth: bool = False,
                 return_trace: bool = False, id: str | None = None, name: str | None = None,
                 **provider_kw: Any) -> None:
        super().__init__(return_trace=return_trace, id=id, name=name)
        self._slot = slot
        hint = _HINTS[slot]
        if api_key is not None and not is_dynamic(api_key):
            raise ConfigError("source='dynamic' chooses the provider per call, so keys are read per call too: "
                              "drop api_key=... and set <source>_api_key with al.config.override(...) or the "
                              "environment")
        if skip_auth:
            raise ConfigError("source='dynamic': set skip_auth per route, in the dynamic config "
                              f"(al.{hint}source=..., skip_auth=True))")
        for arg in ("model", "base_url", "embed_url", "embed_model_name", "url"):
            if provider_kw.get(arg):
                raise ConfigError(f"source='dynamic' takes {arg} from the dynamic config per call; "
                                  f"drop {arg}=... and use al.{hint}source=..., model=..., base_url=...)")
            provider_kw.pop(arg, None)
        self._provider_kw = provider_kw
        self._routes = _Routes()

    @property
    def slot(self) -> str:
        """Which part of the dynamic config this router reads: chat, embed, rerank or multimodal_embed."""
        return self._slot

    @property
    def providers(self) -> dict[RouteKey, ModuleBase]:
        """The providers built so far, by ``(source, base_url, skip_auth)`` (a copy)."""
        return dict(self._routes.providers)

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "source": "dynamic", "slot": self._slot,
                "routes": len(self._routes.providers)}

    def _config(self) -> DynamicModelConfig:
        cfg = model_config_for(self._slot, self._module_id, self._module_name)
        if cfg is None:
            raise ConfigError(
                f"{self.display_name}: no model config for the {self._slot!r} slot in this task; run the call "
                f"inside `with al.{_HINTS[self._slot]}source=..., model=...)` (modules=[...] to target this module "
                f"by name or id), or set al.config.override(dynamic_model_configs={{{self._slot!r}: {{'default': "
                "{'source': ...}}})")
        return cfg

    async def _route(self) -> tuple[Any, DynamicModelConfig]:
        cfg = self._config()
        key = (cfg.source.lower(), cfg.base_url, cfg.skip_auth)
        routes = self._routes
        provider = routes.providers.get(key)
        if provider is None:
            async with routes.lock():
                provider = routes.providers.get(key)
                if provider is None:  # another call may have built it while this one waited
                    provider = self._build(cfg)
                    provider.used_by(self._module_id)
                    await provider.start()
                    routes.providers[key] = provider
        return provider, cfg

    def _build(self, cfg: DynamicModelConfig) -> ModuleBase:
        raise NotImplementedError

    @staticmethod
    def _done(provider: ModuleBase) -> None:
        # The provider ran as a child without its own __call__: drop its per-call usage entry as
        # that would have (the router's aggregated entry and the usage log keep the counts).
        sess = peek_session()
        if sess is not None and sess.usage:
            sess.usage.pop(provider.id, None)

    async def _stop_impl(self) -> None:
        routes, self._routes = self._routes, _Routes()
        for provider in routes.providers.values():
            await provider.stop()


class DynamicChatRouter(LLMBuilders, _DynamicRouter):
    """``OnlineChatModule(source="dynamic")``: the chat provider comes from
    :func:`~asyncllm.online.dynamic_config.dynamic_chat_config` at each call. ``prompt()`` and
    ``formatter()`` apply to whichever provider serves the call."""

    def __init__(self, *, stream: bool = True, **kw: Any) -> None:
        super().__init__("chat", **kw)
        self._stream = stream
        self._prompt: PrompterBase = EmptyPrompter()
        self._formatter: FormatterBase = EmptyFormatter()

    @property
    def stream_enabled(self) -> bool:
        return self._stream

    def share(self, *args: Any, **kw: Any) -> Any:
        new = super().share(*args, **kw)
        new._routes = _Routes()  # the clone's providers must report usage to the clone
        return new

    def _build(self, cfg: DynamicModelConfig) -> ModuleBase:
        return build_chat(None, cfg.source, cfg.base_url, stream=self._stream, return_trace=False,
                          skip_auth=cfg.skip_auth, api_key=None if cfg.skip_auth else "dynamic",
                          name=f"{self.display_name}:{cfg.source}", **self._provider_kw)

    async def forward(self, *args: Any, **kw: Any) -> AsyncGenerator[Any, None]:  # type: ignore[override]
        provider, cfg = await self._route()
        if cfg.model and not kw.get("model"):
            kw["model"] = cfg.model
        if provider._prompt is not self._prompt:
            provider._prompt = self._prompt
        if provider._formatter is not self._formatter:
            provider._formatter = self._formatter
        async with aclosing(provider.forward(*args, **kw)) as pieces:
            async for piece in pieces:
                yield piece
        self._done(provider)


class DynamicEmbeddingRouter(_DynamicRouter):
    """``OnlineEmbeddingModule(source="dynamic", type="embed"|"rerank"|"multimodal_embed")``: the provider comes from
    :func:`~asyncllm.online.dynamic_config.dynamic_embed_config` (with the same ``type``)."""

    def __init__(self, *, type: str, **kw: Any) -> None:
        if type not in _HINTS or type == "chat":
            raise ConfigError("source='dynamic' routes type='embed', 'rerank' or 'multimodal_embed', "
                              f"got type={type!r}")
        super().__init__(type, **kw)

    @property
    def type(self) -> str:
        return self._slot

    def _build(self, cfg: DynamicModelConfig) -> ModuleBase:
        return build_embed(cfg.source, cfg.base_url, None, self._slot,
                           skip_auth=cfg.skip_auth, api_key=None if cfg.skip_auth else "dynamic",
                           name=f"{self.display_name}:{cfg.source}", **self._provider_kw)

    async def forward(self, *args: Any, **kw: Any) -> Any:
        provider, cfg = await self._route()
        if cfg.model and not kw.get("model"):
            kw["model"] = cfg.model
        result = await provider.forward(*args, **kw)
        self._done(provider)
        return result
