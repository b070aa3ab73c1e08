"""``deploy.auto``: pick the engine for a model by its kind, the hardware and what is installed.

* embedding / rerank models → ``embedding`` (transformers + torch);
* a GGUF file → ``llamacpp``;
* a Hugging Face model directory with a GPU → the first installed of vLLM, SGLang, LMDeploy,
  LightLLM; without a GPU (or none installed) → vLLM when installed (its CPU build), else an error;
* nothing fits → :class:`~asyncllm.ConfigError` saying what was found and what to install.
"""

from __future__ import annotations

from typing import Any

from .._exceptions import ConfigError, MissingDependencyError
from ._hardware import gpu_available
from .base import Deployer
from .embedding import Embedding
from .lightllm import LightLLM
from .llamacpp import LlamaCpp
from .lmdeploy import LMDeploy
from .sglang import SGLang
from .vllm import Vllm

__all__ = ["Auto", "auto", "pick_engine"]

GPU_ENGINES: tuple[type[Deployer], ...] = (Vllm, SGLang, LMDeploy, LightLLM)


def pick_engine(kind: str, model: str, *, gpu: bool | None = None) -> type[Deployer]:
    """The engine class for a model of ``kind`` ("llm"/"embed"/"rerank") at path ``model``."""
    if kind in ("embed", "rerank"):
        if not Embedding.available():
            raise MissingDependencyError("torch and transformers", "embed", f"serving the {kind} model {model!r}")
        return Embedding
    if kind != "llm":
        raise ConfigError(f"no engine serves models of type {kind!r}; supported: llm, embed, rerank")
    gpu = gpu_available() if gpu is None else gpu
    if model.endswith(".gguf"):
        if LlamaCpp.available():
            return LlamaCpp
        raise MissingDependencyError("llama-cpp-python[server]", "local", f"serving the GGUF model {model!r}")
    installed = [e for e in GPU_ENGINES if e.available()]
    if gpu and installed:
        return installed[0]
    if not gpu and Vllm in installed:
        return Vllm
    found = ", ".join(e.name for e in installed) or "none of vllm/sglang/lmdeploy/lightllm"
    raise ConfigError(
        f"no inference engine fits the model {model!r} (type llm, Hugging Face directory; GPU: "
        f"{'yes' if gpu else 'no'}; installed: {found}). Install one (pip install vllm), serve a GGUF "
        "file with llama.cpp (pip install 'asyncllm[local]'), or name the engine: "
        "deploy_method(al.deploy.vllm)."
    )


class Auto(Deployer):
    """Chooses the engine at launch (the model may be a fine-tuned one by then)."""

    name = "auto"
    serves = ("llm", "embed", "rerank")

    def __init__(self, *, kind: str = "llm", **kw: Any) -> None:
        super().__init__(**kw)
        self.kind = kind
        self._kw = kw

    def resolve(self, model: str) -> Deployer:
        engine = pick_engine(self.kind, model)
        return engine(**self._kw)


auto = Auto
