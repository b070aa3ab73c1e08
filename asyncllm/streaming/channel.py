"""The per-call chunk channel: how any module, however deep in a flow, streams to the caller.

``m.stream(x)`` binds a bounded channel to the call's context; every module under it that
produces chunks (an async-generator ``forward``, or an explicit ``await self.emit(text)``)
sends them into that channel, tagged with its name. With no stream open, emitting is free
and does nothing. The bound gives back-pressure: a fast producer waits for a slow reader.
This replaces LazyLLM's file-system queue: nothing leaves the process.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Chunk", "Sink", "as_chunk", "current_sink", "emit", "streams_upstream", "worth_sending"]


class Chunk(str):
    """A streamed piece of text; ``module`` names who produced it, ``tag`` what it is
    (``'text'``, ``'think'`` for reasoning, ``'tool_call'``, ``'event'``). ``data`` keeps a
    non-text payload when there is one. It *is* a ``str``, so ``print(chunk, end='')`` works."""

    module: str
    tag: str
    data: Any

    def __new__(cls, text: Any, module: str = "", tag: str = "text", data: Any = None) -> Chunk:
        obj = super().__new__(cls, text if isinstance(text, str) else "")
        obj.module = module
        obj.tag = tag
        obj.data = text if data is None and not isinstance(text, str) else data
        return obj

    def __repr__(self) -> str:
        return f"Chunk({str.__repr__(self)}, module={self.module!r}, tag={self.tag!r})"

    def __reduce__(self) -> Any:
        return (Chunk, (str(self), self.module, self.tag, self.data))


_new_str = str.__new__


class ChunkSender(Protocol):
    async def send(self, item: Chunk, /) -> None: ...


@dataclass(slots=True)
class Sink:
    send: ChunkSender


_sink: contextvars.ContextVar[Sink | None] = contextvars.ContextVar("asyncllm_sink", default=None)


# The contextvar's own methods under their names: a streamed token binds and resets the sink
# once each (modules/base.py), and a Python wrapper around them would cost a frame per call.
#: the open stream's sink, if any
current_sink: Callable[[], Sink | None] = _sink.get
#: bind a sink to this context; returns the token :func:`reset_sink` takes
bind_sink: Callable[[Sink | None], contextvars.Token[Sink | None]] = _sink.set
#: undo a :func:`bind_sink`
reset_sink: Callable[[contextvars.Token[Sink | None]], None] = _sink.reset


def streams_upstream(asked: bool | None, module_stream: bool | None) -> bool:
    """Whether a call streams from where its work runs (a provider, an engine, a served module).

    The one rule every module follows: the call's own ``stream=`` decides when given, else the
    module's ``stream`` setting when it has one (``True`` / ``False``); a module left at ``None``
    streams exactly when somebody listens (``m.stream(x)``, a streamed flow). The defaults are
    chosen so that cancelling a plain ``await`` stops the work where it runs: model calls default
    to ``True`` (a provider or llama.cpp keeps generating, and billing, for a non-streamed
    request after the caller hung up; a hang-up on a stream stops it at the next token), while
    ``UrlModule`` defaults to ``None`` (its server cancels the call when the client hangs up,
    and one JSON answer costs less than an event stream).
    """
    if asked is not None:
        return asked
    if module_stream is not None:
        return module_stream
    return _sink.get() is not None


def as_chunk(piece: Any, module: str, tag: str = "text") -> Chunk:
    """``piece`` as a chunk of ``module``: the one tagging rule of every stream path.

    A chunk keeps what it carries (tag, data) and the module that first produced it (an inner
    module's chunk passed on by an outer one stays the inner one's); it is tagged in place, since
    a new Chunk per token is measurable. Anything else becomes a new chunk.
    """
    if isinstance(piece, Chunk):
        if not piece.module:
            piece.module = module
        return piece
    if type(piece) is str:  # a model's text delta: built without Chunk.__new__'s call and checks
        chunk: Chunk = _new_str(Chunk, piece)
        chunk.module, chunk.tag, chunk.data = module, tag, None
        return chunk
    return Chunk(piece, module=module, tag=tag)


def worth_sending(piece: Any) -> bool:
    """Everything but an empty plain string (a payload-only ``Chunk("", data=...)`` is sent)."""
    return not (isinstance(piece, str) and not piece and getattr(piece, "data", None) is None)


async def emit(delta: Any, *, module: str = "", tag: str = "text") -> None:
    """Send one chunk to the open stream, if any. Waits when the reader is behind."""
    sink = _sink.get()
    if sink is None or not worth_sending(delta):
        return
    await sink.send.send(as_chunk(delta, module, tag))
