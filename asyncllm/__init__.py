"""asyncllm: async-first composable modules for LLM applications.

``import asyncllm as al``; every module is called with ``await m(x)`` and streamed with
``async for chunk in m.stream(x)``. Heavy parts (serving, online providers, engines) are
imported on first use, so ``import asyncllm`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import _exceptions
from ._concurrency import to_thread
from ._context import Session, current_session, new_session, session
from ._exceptions import *  # noqa: F403 - the public error tree, re-exported whole (its __all__)
from ._types import kwargs, package
from ._version import __version__ as __version__
from .flows import (
    IFS,
    ActionModule,
    Diverter,
    FlowBase,
    Loop,
    Parallel,
    Pipeline,
    Switch,
    Warp,
    diverter,
    ifs,
    loop,
    parallel,
    pipeline,
    switch,
    warp,
)
from .modules import FuncHook, Hook, HookHandle, LazyLLMHook, ModuleBase
from .option import Option, OptionIter
from .streaming import Chunk, Stream, emit
from .trial import TrialModule, TrialResult

# Names whose modules pull in starlette/hypercorn or many provider files: imported on first use.
_LAZY: dict[str, tuple[str, str]] = {
    # online clients
    "OnlineChatModule": ("asyncllm.online", "OnlineChatModule"),
    "OnlineEmbeddingModule": ("asyncllm.online", "OnlineEmbeddingModule"),
    "OnlineChatModuleBase": ("asyncllm.online", "OnlineChatModuleBase"),
    "OnlineEmbeddingModuleBase": ("asyncllm.online", "OnlineEmbeddingModuleBase"),
    "OnlineRerankModuleBase": ("asyncllm.online", "OnlineRerankModuleBase"),
    "DynamicChatRouter": ("asyncllm.online", "DynamicChatRouter"),
    "DynamicEmbeddingRouter": ("asyncllm.online", "DynamicEmbeddingRouter"),
    "dynamic_chat_config": ("asyncllm.online", "dynamic_chat_config"),
    "dynamic_embed_config": ("asyncllm.online", "dynamic_embed_config"),
    # prompts and formatters
    "ChatPrompter": ("asyncllm.prompts", "ChatPrompter"),
    "AlpacaPrompter": ("asyncllm.prompts", "AlpacaPrompter"),
    "EmptyPrompter": ("asyncllm.prompts", "EmptyPrompter"),
    "PrompterBase": ("asyncllm.prompts", "PrompterBase"),
    "EmptyFormatter": ("asyncllm.prompts", "EmptyFormatter"),
    "JsonFormatter": ("asyncllm.prompts", "JsonFormatter"),
    "FunctionCallFormatter": ("asyncllm.prompts", "FunctionCallFormatter"),
    "FormatterBase": ("asyncllm.prompts", "FormatterBase"),
    # settings and the HTTP pools
    "config": ("asyncllm._config", "config"),
    "Secret": ("asyncllm._config", "Secret"),
    "HTTPOptions": ("asyncllm._http", "HTTPOptions"),
    "HTTPSettings": ("asyncllm._http", "HTTPSettings"),
    "instrument": ("asyncllm._instrument", "instrument"),
    "aclose": ("asyncllm._http", "aclose_all"),
    # serving
    "ServerModule": ("asyncllm.serving", "ServerModule"),
    "ServerOptions": ("asyncllm.serving", "ServerOptions"),
    "CallerPolicy": ("asyncllm.serving", "CallerPolicy"),
    "UrlModule": ("asyncllm.serving", "UrlModule"),
    "ServedModuleError": ("asyncllm.serving", "ServedModuleError"),
    "ServerLostError": ("asyncllm.serving", "ServerLostError"),
    "create_app": ("asyncllm.serving", "create_app"),
    "remote_method": ("asyncllm.serving", "remote_method"),
    "route": ("asyncllm.serving", "route"),
    "serve": ("asyncllm.serving", "serve"),
    # local engines and fine-tuning
    "TrainableModule": ("asyncllm.trainable", "TrainableModule"),
    "EngineStatus": ("asyncllm.deploy", "EngineStatus"),
}
# Sub-packages reached as attributes: al.deploy.llamacpp, al.finetune.dummy, al.train.auto, al.launchers.ray().
_LAZY_PACKAGES = ("deploy", "finetune", "launchers", "train")


def __getattr__(name: str) -> Any:
    if name in _LAZY_PACKAGES:
        return importlib.import_module(f"asyncllm.{name}")
    target = _LAZY.get(name)
    if target is None:
        raise AttributeError(f"module 'asyncllm' has no attribute {name!r}")
    value = getattr(importlib.import_module(target[0]), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_LAZY_PACKAGES})


if TYPE_CHECKING:
    from . import deploy, finetune, launchers, train
    from ._config import Secret, config
    from ._http import HTTPOptions, HTTPSettings
    from ._http import aclose_all as aclose
    from ._instrument import instrument
    from .deploy import EngineStatus
    from .online import (
        DynamicChatRouter,
        DynamicEmbeddingRouter,
        OnlineChatModule,
        OnlineChatModuleBase,
        OnlineEmbeddingModule,
        OnlineEmbeddingModuleBase,
        OnlineRerankModuleBase,
        dynamic_chat_config,
        dynamic_embed_config,
    )
    from .prompts import (
        AlpacaPrompter,
        ChatPrompter,
        EmptyFormatter,
        EmptyPrompter,
        FormatterBase,
        FunctionCallFormatter,
        JsonFormatter,
        PrompterBase,
    )
    from .serving import (
        CallerPolicy,
        ServedModuleError,
        ServerLostError,
        ServerModule,
        ServerOptions,
        UrlModule,
        create_app,
        remote_method,
        route,
        serve,
    )
    from .trainable import TrainableModule

__all__ = [
    "IFS",
    "ActionModule",
    "AlpacaPrompter",
    "CallerPolicy",
    "ChatPrompter",
    "Chunk",
    "Diverter",
    "DynamicChatRouter",
    "DynamicEmbeddingRouter",
    "EmptyFormatter",
    "EmptyPrompter",
    "EngineStatus",
    "FlowBase",
    "FormatterBase",
    "FuncHook",
    "FunctionCallFormatter",
    "HTTPOptions",
    "HTTPSettings",
    "Hook",
    "HookHandle",
    "JsonFormatter",
    "LazyLLMHook",
    "Loop",
    "ModuleBase",
    "OnlineChatModule",
    "OnlineChatModuleBase",
    "OnlineEmbeddingModule",
    "OnlineEmbeddingModuleBase",
    "OnlineRerankModuleBase",
    "Option",
    "OptionIter",
    "Parallel",
    "Pipeline",
    "PrompterBase",
    "Secret",
    "ServedModuleError",
    "ServerLostError",
    "ServerModule",
    "ServerOptions",
    "Session",
    "Stream",
    "Switch",
    "TrainableModule",
    "TrialModule",
    "TrialResult",
    "UrlModule",
    "Warp",
    "aclose",
    "config",
    "create_app",
    "current_session",
    "deploy",
    "diverter",
    "dynamic_chat_config",
    "dynamic_embed_config",
    "emit",
    "finetune",
    "ifs",
    "instrument",
    "kwargs",
    "launchers",
    "loop",
    "new_session",
    "package",
    "parallel",
    "pipeline",
    "remote_method",
    "route",
    "serve",
    "session",
    "switch",
    "to_thread",
    "train",
    "warp",
]
__all__ += _exceptions.__all__  # the error tree (see _exceptions.py)
