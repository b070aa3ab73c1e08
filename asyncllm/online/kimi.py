"""Kimi (Moonshot): OpenAI wire; vision models take images inline only (base64 data URLs).

Two differences from OpenAI (checked 2026-11-30):

* A streamed answer carries its usage inside ``choices[0]`` of the finishing chunk, not as a
  top-level field (Moonshot's stream example, platform.moonshot.cn/docs/api/chat, as quoted in
  northes/go-moonshot#17 and higress-group/higress#1568; earendil-works/pi#2017 for Kimi K2.5):
  lifted to the top level here, where the base reads it.
* Arrears are HTTP 429 (or 403) with ``type: exceeded_current_quota_error`` ("Your account ...
  is suspended due to insufficient balance"; anomalyco/opencode#24462, MoonshotAI/Kimi-K2#5):
  a quota error, not a rate limit (:func:`kimi_error_rule`).
"""

from __future__ import annotations

from typing import Any

from .._exceptions import APIError, QuotaExceededError
from .._provider_errors import body_code, register_error_rule
from ..streaming.sse import SSEEvent
from .chat_base import OnlineChatModuleBase

__all__ = ["KimiChat", "kimi_error_rule"]


def kimi_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    return QuotaExceededError if body_code(body)[1] == "exceeded_current_quota_error" else None


register_error_rule("kimi", kimi_error_rule)


class KimiChat(OnlineChatModuleBase, source="kimi"):
    default_system_prompt = ("You are Kimi, an AI assistant from Moonshot AI, strongest in Chinese and English. "
                             "Give users safe, helpful and accurate answers, and refuse anything involving "
                             "terrorism, racial discrimination, pornography or violence. 'Moonshot AI' is a "
                             "proper noun: never translate it.")
    default_base_url = "https://api.moonshot.cn/v1/"
    default_model = "moonshot-v1-8k"
    accepts_image_urls = False
    # thinking models: a tool-calling turn's reasoning_content must come back (online/_message_fields.py);
    # `partial: true` on a last assistant message is Moonshot's Partial Mode (platform.moonshot.cn/docs/
    # guide/use-partial-mode)
    message_extras = ("reasoning_content", "partial")
    vlm_model_prefixes = ("moonshot-v1-8k-vision", "moonshot-v1-32k-vision", "moonshot-v1-128k-vision",
                          "kimi-latest", "kimi-k2")

    def _convert_frame(self, event: SSEEvent) -> dict[str, Any] | None:
        frame = super()._convert_frame(event)
        if frame is not None and (choices := frame.get("choices")) and (u := choices[0].get("usage")):
            frame["usage"] = u
        return frame
