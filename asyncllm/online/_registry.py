"""Where providers register: chat classes by source, embedding/rerank classes by (kind, source).

A provider class registers itself with a class keyword (``class MyChat(OnlineChatModuleBase,
source="myvendor")``); the factories look sources up here. Registration order is kept: with no
source given, the factories try sources in this order and pick the first with a key.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CHAT", "EMBED", "register_chat", "register_embed"]

CHAT: dict[str, type[Any]] = {}
EMBED: dict[tuple[str, str], type[Any]] = {}  # (kind, source) → class; kind: embed | rerank | multimodal_embed

EMBED_KINDS = ("embed", "rerank", "multimodal_embed")


def register_chat(source: str, cls: type[Any]) -> None:
    CHAT[source.lower()] = cls


def register_embed(kind: str, source: str, cls: type[Any]) -> None:
    if kind not in EMBED_KINDS:
        raise ValueError(f"unknown embedding kind {kind!r}; choose from {EMBED_KINDS}")
    EMBED[(kind, source.lower())] = cls
