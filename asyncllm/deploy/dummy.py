"""``deploy.dummy``: a real HTTP engine process that needs no model.

It runs ``asyncllm/deploy/_dummy_server.py`` and answers every chat with
``"reply for {input}, and parameters is {'do_sample': False, 'temperature': 0.1}"`` (word by word
when streaming), so every path above the engine — calls, streams, share, eval, fine-tune then
deploy, trials, serving — is exercised for real without a model. ``chunk_delay=`` slows streams.
"""

from __future__ import annotations

from pathlib import Path

from .base import Deployer, cli_flags

__all__ = ["Dummy", "dummy"]


class Dummy(Deployer):
    structured_output = "prompt"
    name = "dummy"
    serves = ("llm", "embed")
    port_file = True
    startup_timeout = 60.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        argv = [self.python(), "-m", "asyncllm.deploy._dummy_server", "--host", self.host, "--port", str(port),
                "--model-name", self.served_model_name(model)]
        if port_file is not None:
            argv += ["--port-file", str(port_file)]
        return argv + cli_flags(self.options)

    def served_model_name(self, model: str) -> str:
        return self.served_name or "dummy"


dummy = Dummy
