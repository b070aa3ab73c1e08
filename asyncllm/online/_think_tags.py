"""Splitting ``<think>…</think>`` out of an answer's text, for providers that put a model's
reasoning inline in ``content`` (MiniMax without ``reasoning_split``; see ``minimax.py``).

Only a ``<think>`` at the very start of the answer opens a reasoning section (what the models
emit); a tag anywhere else is text. Stream pieces may cut a tag in two, so a piece that could be
the start of a tag is held back until the next one decides it.
"""

from __future__ import annotations

__all__ = ["ThinkTagSplitter", "split_think"]

OPEN, CLOSE = "<think>", "</think>"


def split_think(text: str) -> tuple[str, str]:
    """(reasoning, answer) of a whole answer; ``("", text)`` when it opens no think section."""
    stripped = text.lstrip()
    if not stripped.startswith(OPEN):
        return "", text
    body = stripped[len(OPEN):]
    thought, sep, answer = body.partition(CLOSE)
    if not sep:
        return thought, ""  # cut off while still thinking
    return thought, answer.lstrip("\n")


class ThinkTagSplitter:
    """Feed content pieces in stream order; each call gives ``(reasoning, answer)`` text to emit."""

    __slots__ = ("_held", "_state")

    def __init__(self) -> None:
        self._state = "start"  # start → thinking → gap → answer, or start → answer
        self._held = ""

    def feed(self, piece: str) -> tuple[str, str]:
        if self._state == "answer":
            return "", piece
        if self._state == "gap":  # the newlines between </think> and the answer are not answer text
            piece = piece.lstrip("\n")
            if piece:
                self._state = "answer"
            return "", piece
        text = self._held + piece
        self._held = ""
        if self._state == "start":
            lead = text.lstrip()
            if OPEN.startswith(lead):  # nothing yet, or a cut "<thi": wait for more
                self._held = text
                return "", ""
            if not lead.startswith(OPEN):
                self._state = "answer"
                return "", text
            self._state = "thinking"
            text = lead[len(OPEN):]
        if self._state == "thinking":
            thought, sep, rest = text.partition(CLOSE)
            if sep:
                self._state = "gap"
                return thought, self.feed(rest)[1]
            keep = _partial_tail(thought, CLOSE)
            if keep:
                self._held, thought = thought[-keep:], thought[:-keep]
            return thought, ""
        return "", text

    def flush(self) -> tuple[str, str]:
        """What is still held at the end of the stream."""
        held, self._held = self._held, ""
        return (held, "") if self._state == "thinking" else ("", held.lstrip() if self._state == "start" else held)


def _partial_tail(text: str, tag: str) -> int:
    """How many trailing characters of ``text`` could be the start of ``tag``."""
    for n in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:n]):
            return n
    return 0
