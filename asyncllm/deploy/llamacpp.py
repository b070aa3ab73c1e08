"""``deploy.llamacpp``: llama.cpp's OpenAI-compatible server (``llama-cpp-python[server]``), CPU default.

Command: ``python -m llama_cpp.server --model M.gguf --host 127.0.0.1 --port P --n_threads <cores>
--model_alias <name>``. It cannot report a port it chose, so we pick a free one just before
starting it. The server loads the model before it listens, and it has no ``/health``: a 200
from ``GET /v1/models`` means it is ready. It applies the GGUF's own chat template.

On a machine with a GPU (``deploy._hardware.gpu_available``) every layer is offloaded by default
(``--n_gpu_layers -1``; ``gpu_layers=`` sets another count, 0 keeps the CPU): a llama-cpp-python
built with CUDA (``scripts/setup.sh`` does when ``nvcc`` is found) runs them there, a CPU build
ignores the option.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar

from .._exceptions import ConfigError
from ._hardware import gpu_available
from .base import Deployer, cli_flags

__all__ = ["LlamaCpp", "llamacpp"]


class LlamaCpp(Deployer):
    structured_output = "json_object_schema"  # llama-cpp-python: response_format json_object + schema
    name = "llamacpp"
    requires = (("llama_cpp",), "llama-cpp-python[server]", "local")
    health_path = "/v1/models"
    auto_map: ClassVar[dict[str, str]] = {"threads": "n_threads", "ctx": "n_ctx", "gpu_layers": "n_gpu_layers"}
    startup_timeout = 120.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        if not model.endswith(".gguf"):
            raise ConfigError(f"llama.cpp serves GGUF files; {model!r} is not one: convert it to GGUF "
                              "or choose deploy_method(al.deploy.vllm) for a Hugging Face model directory")
        opts: dict[str, Any] = {"n_threads": os.cpu_count() or 1, "n_ctx": 2048, "verbose": "False",
                                **self.options}
        opts.setdefault("n_threads_batch", opts["n_threads"])
        if "n_gpu_layers" not in opts and gpu_available():
            opts["n_gpu_layers"] = -1
        return [self.python(), "-m", "llama_cpp.server", "--model", model, "--host", self.host,
                "--port", str(port), "--model_alias", self.served_model_name(model),
                *cli_flags(opts, style="underscore")]


llamacpp = LlamaCpp
