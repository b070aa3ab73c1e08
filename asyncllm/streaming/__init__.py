"""Streaming: the per-call chunk channel and the Stream object ``m.stream(x)`` returns."""

from .channel import Chunk, emit
from .stream import Stream

__all__ = ["Chunk", "Stream", "emit"]
