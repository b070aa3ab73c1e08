"""Kimi (Moonshot): OpenAI wire; vision models take images inline only (base64 data URLs)."""

from __future__ import annotations

from .chat_base import OnlineChatModuleBase

__all__ = ["KimiChat"]


class KimiChat(OnlineChatModuleBase, source="kimi"):
    default_base_url = "https://api.moonshot.cn/v1/"
    default_model = "moonshot-v1-8k"
    accepts_image_urls = False
    vlm_model_prefixes = ("moonshot-v1-8k-vision", "moonshot-v1-32k-vision", "moonshot-v1-128k-vision",
                          "kimi-latest", "kimi-k2")
