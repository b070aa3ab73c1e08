"""asyncllm: async-first composable modules for LLM applications.

``import asyncllm as al``; every module is called with ``await m(x)`` and streamed with
``async for chunk in m.stream(x)``. Heavy parts (serving, online providers, engines) are
imported on first use, so ``import asyncllm`` stays cheap.
"""

from __future__ import annotations

from ._concurrency import to_thread
from ._context import Session, current_session, new_session, session
from ._exceptions import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    AsyncLLMError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContentFilteredError,
    EngineStartError,
    FlowError,
    HookError,
    IncompleteOutputError,
    LifecycleError,
    MissingDependencyError,
    ModuleExecutionError,
    NotFoundError,
    PermissionDeniedError,
    ProtocolError,
    ProviderOverloadedError,
    QuotaExceededError,
    RateLimitError,
    StreamError,
)
from ._types import kwargs, package
from .flows import (
    IFS,
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
from .modules import ActionModule, FuncHook, Hook, HookHandle, ModuleBase
from .option import Option, OptionIter
from .streaming import Chunk, Stream, emit
from .trial import TrialModule, TrialResult

__version__ = "0.1.0"

__all__ = [
    "IFS",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ActionModule",
    "AsyncLLMError",
    "AuthenticationError",
    "BadRequestError",
    "Chunk",
    "ConfigError",
    "ContentFilteredError",
    "Diverter",
    "EngineStartError",
    "FlowBase",
    "FlowError",
    "FuncHook",
    "Hook",
    "HookError",
    "HookHandle",
    "IncompleteOutputError",
    "LifecycleError",
    "Loop",
    "MissingDependencyError",
    "ModuleBase",
    "ModuleExecutionError",
    "NotFoundError",
    "Option",
    "OptionIter",
    "Parallel",
    "PermissionDeniedError",
    "Pipeline",
    "ProtocolError",
    "ProviderOverloadedError",
    "QuotaExceededError",
    "RateLimitError",
    "Session",
    "Stream",
    "StreamError",
    "Switch",
    "TrialModule",
    "TrialResult",
    "Warp",
    "current_session",
    "diverter",
    "emit",
    "ifs",
    "kwargs",
    "loop",
    "new_session",
    "package",
    "parallel",
    "pipeline",
    "session",
    "switch",
    "to_thread",
    "warp",
]
