"""``deploy.lmdeploy``: LMDeploy's ``api_server`` (GPU; also serves vision-language models).

Command: ``lmdeploy serve api_server DIR --server-name 127.0.0.1 --server-port P --model-name NAME
--tp N`` (run as ``python -m lmdeploy``). Readiness: ``GET /v1/models``. Requests: OpenAI wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from .base import Deployer, cli_flags

__all__ = ["LMDeploy", "lmdeploy"]


class LMDeploy(Deployer):
    name = "lmdeploy"
    requires = (("lmdeploy",), "lmdeploy", "lmdeploy")
    health_path = "/v1/models"
    auto_map: ClassVar[dict[str, str]] = {"tensor_parallel_size": "tp", "max_batch_size": "max_batch_size"}
    startup_timeout = 900.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        opts: dict[str, Any] = {"tp": 1, **self.options}
        return [self.python(), "-m", "lmdeploy", "serve", "api_server", model, "--server-name", self.host,
                "--server-port", str(port), "--model-name", self.served_model_name(model),
                *cli_flags(opts, style="underscore")]


lmdeploy = LMDeploy
