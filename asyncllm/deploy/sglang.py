"""``deploy.sglang``: SGLang's server (GPU), OpenAI-compatible.

Command: ``python -m sglang.launch_server --model-path DIR --served-model-name NAME --host
127.0.0.1 --port P --tp-size N``. Readiness: ``GET /health``. Requests: OpenAI wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from .base import Deployer, cli_flags

__all__ = ["SGLang", "sglang"]


class SGLang(Deployer):
    name = "sglang"
    takes_trust_remote_code = True
    requires = (("sglang",), "sglang[all]", "sglang")
    auto_map: ClassVar[dict[str, str]] = {"tp": "tp_size", "tensor_parallel_size": "tp_size",
                                          "max_len": "context_length"}
    startup_timeout = 900.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        opts: dict[str, Any] = {"tp_size": 1, **self.options}
        return [self.python(), "-m", "sglang.launch_server", "--model-path", model,
                "--served-model-name", self.served_model_name(model), "--host", self.host, "--port", str(port),
                *cli_flags(opts)]


sglang = SGLang
