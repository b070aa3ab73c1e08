"""The curated public surface: every exported name resolves, and importing stays cheap."""

from __future__ import annotations

import subprocess
import sys

import asyncllm as al


def test_every_exported_name_resolves() -> None:
    missing = [name for name in al.__all__ if getattr(al, name, None) is None]
    assert missing == []


def test_import_does_not_load_heavy_dependencies() -> None:
    code = (
        "import sys, asyncllm;"
        "heavy = [m for m in ('starlette', 'hypercorn', 'httpx', 'aiohttp', 'torch', 'ray') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == ""


def test_unknown_attribute_is_an_attribute_error() -> None:
    try:
        al.NoSuchThing  # noqa: B018
    except AttributeError as exc:
        assert "NoSuchThing" in str(exc)
    else:  # pragma: no cover - the assertion below documents the failure
        raise AssertionError("al.NoSuchThing should raise AttributeError")


def test_online_routing_names_are_exported_lazily() -> None:
    import asyncllm.online as online

    for name in ("dynamic_chat_config", "dynamic_embed_config", "DynamicChatRouter", "DynamicEmbeddingRouter"):
        assert name in al.__all__ and name in online.__all__
        assert getattr(al, name) is getattr(online, name)


def test_the_version_is_the_one_pyproject_declares() -> None:
    import tomllib
    from pathlib import Path

    declared = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["version"]
    assert al.__version__ == declared


#: The whole public surface, pinned (httpx does the same): adding, removing or renaming a public
#: name is a decision made here on purpose, and shows up in review as a change to this list.
#: Listed in ruff's RUF022 order (constants, then classes, then functions); ``__init__``'s own list
#: is in that order too, followed by the error tree's (``_exceptions.__all__``, re-exported whole),
#: so the comparison is of the sorted names, each once.
PUBLIC_NAMES = [
    "IFS",
    "APIConnectionError",
    "APIError",
    "APIStatusError",
    "APITimeoutError",
    "ActionModule",
    "AlpacaPrompter",
    "AsyncLLMError",
    "AuthenticationError",
    "BadRequestError",
    "CallerPolicy",
    "ChatPrompter",
    "Chunk",
    "ConfigError",
    "ContentFilteredError",
    "Diverter",
    "DynamicChatRouter",
    "DynamicEmbeddingRouter",
    "EmptyFormatter",
    "EmptyPrompter",
    "EngineStartError",
    "EngineStatus",
    "FlowBase",
    "FlowError",
    "FormatterBase",
    "FuncHook",
    "FunctionCallFormatter",
    "HTTPOptions",
    "HTTPSettings",
    "Hook",
    "HookError",
    "HookHandle",
    "IncompleteOutputError",
    "JsonFormatter",
    "LazyLLMHook",
    "LifecycleError",
    "Loop",
    "MissingDependencyError",
    "ModelAccessError",
    "ModelDownloadError",
    "ModelHubUnreachableError",
    "ModelNotFoundError",
    "ModuleBase",
    "ModuleExecutionError",
    "NotFoundError",
    "OnlineChatModule",
    "OnlineChatModuleBase",
    "OnlineEmbeddingModule",
    "OnlineEmbeddingModuleBase",
    "OnlineRerankModuleBase",
    "Option",
    "OptionIter",
    "OutputValidationError",
    "Parallel",
    "PermissionDeniedError",
    "Pipeline",
    "PrompterBase",
    "ProtocolError",
    "ProviderOverloadedError",
    "ProxyError",
    "QuotaExceededError",
    "RateLimitError",
    "ResourcesUnavailableError",
    "Secret",
    "ServedModuleError",
    "ServerLostError",
    "ServerModule",
    "ServerOptions",
    "Session",
    "Stream",
    "StreamError",
    "Switch",
    "TLSError",
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


def test_the_public_surface_is_exactly_the_pinned_sorted_list() -> None:
    assert sorted(al.__all__) == sorted(PUBLIC_NAMES)
    assert len(set(al.__all__)) == len(al.__all__)
    assert len(set(PUBLIC_NAMES)) == len(PUBLIC_NAMES)


def test_every_public_name_is_importable_from_the_top_level() -> None:
    namespace: dict[str, object] = {}
    exec("from asyncllm import *", namespace)  # the star import is what users write
    assert sorted(n for n in namespace if not n.startswith("__")) == sorted(PUBLIC_NAMES)
