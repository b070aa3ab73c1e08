"""Inference engines for ``TrainableModule``: one small file each (command, readiness, request format).

``al.deploy.llamacpp`` (CPU default, GGUF), ``vllm``, ``sglang``, ``lmdeploy``, ``lightllm`` (GPU,
Hugging Face directories), ``embedding`` (embeddings and rerank), ``dummy`` (a real HTTP engine
needing no model) and ``auto`` (picks one). Pass one to ``deploy_method``; ``url=...`` attaches
to an engine that is already running instead of launching one. Engines always run as
subprocesses; nothing here imports them.
"""

from __future__ import annotations

from .auto import Auto, auto, pick_engine
from .base import Deployer, EngineHandle, EngineStatus, cli_flags, normalize_url
from .dummy import Dummy, dummy
from .embedding import Embedding, embedding
from .lightllm import LightLLM, lightllm
from .llamacpp import LlamaCpp, llamacpp
from .lmdeploy import LMDeploy, lmdeploy
from .sglang import SGLang, sglang
from .vllm import Vllm, vllm

__all__ = [
    "Auto",
    "Deployer",
    "Dummy",
    "Embedding",
    "EngineHandle",
    "EngineStatus",
    "LMDeploy",
    "LightLLM",
    "LlamaCpp",
    "SGLang",
    "Vllm",
    "auto",
    "cli_flags",
    "dummy",
    "embedding",
    "lightllm",
    "llamacpp",
    "lmdeploy",
    "normalize_url",
    "pick_engine",
    "sglang",
    "vllm",
]
