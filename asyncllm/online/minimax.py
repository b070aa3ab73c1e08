"""MiniMax: OpenAI wire, but errors may come as HTTP 200 with ``base_resp.status_code != 0``, and
reasoning arrives as ``reasoning_details`` (mapped to ``reasoning_content``)."""

from __future__ import annotations

from typing import Any

from .._exceptions import (
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConfigError,
    ContentFilteredError,
    QuotaExceededError,
    RateLimitError,
)
from ..streaming.sse import SSEEvent
from .chat_base import OnlineChatModuleBase

__all__ = ["MinimaxChat"]

REGIONS = {"global": "https://api.minimax.io/v1/", "cn": "https://api.minimaxi.com/v1/"}

# base_resp.status_code → (error class, equivalent HTTP status)
_CODES: dict[int, tuple[type[APIStatusError], int]] = {
    1002: (RateLimitError, 429), 1039: (RateLimitError, 429),
    1004: (AuthenticationError, 401), 2049: (AuthenticationError, 401),
    1008: (QuotaExceededError, 402),
    1013: (BadRequestError, 400), 2013: (BadRequestError, 400),
}


def _reasoning(delta: dict[str, Any]) -> None:
    details = delta.pop("reasoning_details", None)
    if details and not delta.get("reasoning_content"):
        delta["reasoning_content"] = "".join(d.get("text", "") for d in details if isinstance(d, dict))


class MinimaxChat(OnlineChatModuleBase, source="minimax"):
    default_base_url = REGIONS["global"]
    default_model = "MiniMax-M1"
    errors_as_json_when_streaming = True

    def __init__(self, model: str | None = None, *, region: str | None = None, **kw: Any) -> None:
        if region is not None and "base_url" not in kw:
            if region not in REGIONS:
                raise ConfigError(f"unknown MiniMax region {region!r}; choose one of {sorted(REGIONS)}")
            kw["base_url"] = REGIONS[region]
        super().__init__(model, **kw)

    def _check(self, body: dict[str, Any]) -> None:
        base = body.get("base_resp")
        if isinstance(base, dict) and base.get("status_code", 0) != 0:
            code = int(base["status_code"])
            cls, status = _CODES.get(code, (APIStatusError, 400))
            if code == 1027:
                raise ContentFilteredError(f"MiniMax content filter: {base.get('status_msg')}",
                                           finish_reason="content_filter", provider="minimax", model=self._model_name)
            raise cls(f"MiniMax error {code}: {base.get('status_msg')}", status_code=status, error_type=str(code),
                      provider="minimax", model=self._model_name)

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if isinstance(body, dict):
            self._check(body)
            for ch in body.get("choices") or []:
                if isinstance(ch.get("message"), dict):
                    _reasoning(ch["message"])
        return super()._convert_response(body)

    def _convert_frame(self, event: SSEEvent) -> dict[str, Any] | None:
        frame = super()._convert_frame(event)
        if frame is not None:
            self._check(frame)
            for ch in frame.get("choices") or []:
                if isinstance(ch.get("delta"), dict):
                    _reasoning(ch["delta"])
        return frame
