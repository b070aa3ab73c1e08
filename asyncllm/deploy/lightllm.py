"""``deploy.lightllm``: LightLLM's ``api_server`` (GPU).

Command: ``python -m lightllm.server.api_server --model_dir DIR --host 127.0.0.1 --port P --tp N
--max_total_token_num T``. Readiness: ``GET /health``. ``TrainableModule`` talks to it over its
OpenAI face (``/v1/chat/completions``); its native format is here too, for direct callers:
``POST /generate`` ``{"inputs": text, "parameters": {...}}`` → ``{"generated_text": [text]}``, and
``POST /generate_stream`` → SSE frames ``data:{"token": {"text": ...}}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import orjson

from .._exceptions import ProtocolError
from .base import Deployer, cli_flags

__all__ = ["LightLLM", "lightllm"]

NATIVE_DEFAULTS: dict[str, Any] = {"do_sample": False, "temperature": 1.0, "top_p": 1.0, "top_k": -1,
                                   "ignore_eos": False, "max_new_tokens": 4096}


class LightLLM(Deployer):
    name = "lightllm"
    takes_trust_remote_code = True
    requires = (("lightllm",), "lightllm", "")  # not on PyPI: the error says to install from source
    auto_map: ClassVar[dict[str, str]] = {"tensor_parallel_size": "tp", "max_len": "max_req_total_len"}
    startup_timeout = 900.0

    def command(self, model: str, port: int, port_file: Path | None) -> list[str]:
        opts: dict[str, Any] = {"tp": 1, "max_total_token_num": 64000, **self.options}
        return [self.python(), "-m", "lightllm.server.api_server", "--model_dir", model, "--host", self.host,
                "--port", str(port), *cli_flags(opts, style="underscore")]

    @staticmethod
    def native_request(text: str, *, stop: list[str] | None = None, **parameters: Any) -> dict[str, Any]:
        params = {**NATIVE_DEFAULTS, **parameters}
        if stop:
            params["stop_sequences"] = list(stop)
        return {"inputs": text, "parameters": params}

    @staticmethod
    def native_response(body: Any) -> str:
        text = body.get("generated_text") if isinstance(body, dict) else None
        if not isinstance(text, list) or not text:
            raise ProtocolError(f"lightllm answered without generated_text: {str(body)[:120]!r}", provider="lightllm")
        return str(text[0])

    @staticmethod
    def native_stream_piece(data: str) -> str:
        """The text of one ``/generate_stream`` SSE data line."""
        try:
            frame = orjson.loads(data)
            return str(frame["token"]["text"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise ProtocolError(f"malformed lightllm stream frame: {data[:80]!r}", provider="lightllm") from exc


lightllm = LightLLM
