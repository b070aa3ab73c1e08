"""``Stream``: what ``m.stream(x)`` returns — an async context manager and async iterator of chunks.

The call runs as a producer task inside a task group owned by the stream, with a bounded
channel bound to its context (see channel.py). Reading pulls chunks as they are produced;
leaving the ``async with`` block early, breaking out, or being cancelled cancels the producer
(closing any HTTP response or engine request under it). After the last chunk, ``result`` holds
the call's final value (the joined text for a plain LLM, the flow's output for a flow).

Prefer ``async with m.stream(x) as s: async for c in s`` — it closes the producer at a point
you choose, whatever the producer is. A bare ``async for c in m.stream(x)`` works too. For a
leaf streaming module (an async-generator ``forward``: online chat, engines, served modules)
it pulls the generator directly in the reader's task, so an early ``break`` closes it like any
async generator. For a flow, the producer needs a task group, which only a ``with`` block can
own safely: read a bare flow stream to the end (or let it raise / be cancelled), and use
``async with`` when you may leave early. (A ``break`` out of a bare flow stream leaves the
generator to be closed later by Python's finaliser, in another task, which cannot exit the task
group it holds: there is no way round that in an async generator.)
"""

from __future__ import annotations

import math
from collections.abc import AsyncGenerator, Awaitable, Callable
from types import TracebackType
from typing import Any

import anyio
from anyio.abc import TaskGroup
from anyio.streams.memory import MemoryObjectReceiveStream

from .._exceptions import StreamError
from .channel import Chunk, Sink, bind_sink, reset_sink

__all__ = ["Stream"]

_UNSET: Any = object()


class Stream:
    """A running (or ready to run) streamed call. Single use."""

    def __init__(
        self,
        call: Callable[[], Awaitable[Any]],
        *,
        buffer: int = 64,
        name: str = "",
        pull: Callable[[Stream], AsyncGenerator[Chunk, None]] | None = None,
    ) -> None:
        if buffer < 0:
            raise StreamError(f"buffer must be >= 0, got {buffer}")
        self._call = call
        self._buffer = math.inf if buffer == 0 else buffer
        self._name = name
        self._pull = pull
        self._result: Any = _UNSET
        self._error: BaseException | None = None
        self._tg: TaskGroup | None = None
        self._recv: MemoryObjectReceiveStream[Chunk] | None = None
        self._used = False
        self._done = False

    def __repr__(self) -> str:
        state = "done" if self._done else ("running" if self._tg else "new")
        return f"<Stream of {self._name or 'call'} {state}>"

    @property
    def result(self) -> Any:
        """The call's final value, once every chunk has been read."""
        if self._result is _UNSET:
            raise StreamError("the stream has not finished yet; read it to the end first")
        return self._result

    async def _produce(self, send: Any) -> None:
        token = bind_sink(Sink(send))
        try:
            async with send:
                self._result = await self._call()
        finally:
            reset_sink(token)

    async def __aenter__(self) -> Stream:
        if self._used:
            raise StreamError("a Stream can be used only once; call m.stream(...) again")
        self._used = True
        send, recv = anyio.create_memory_object_stream[Chunk](self._buffer)
        self._recv = recv
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        tg.start_soon(self._produce, send)
        return self

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        tg, self._tg = self._tg, None
        if tg is None:
            return None
        if not self._done:
            # The reader left early (or failed): stop the producer instead of waiting for it.
            tg.cancel_scope.cancel()
        assert self._recv is not None
        self._recv.close()
        try:
            return await tg.__aexit__(et, exc, tb)
        except BaseExceptionGroup as group:
            # One producer task: surface its error itself, not a group of one.
            if len(group.exceptions) == 1:
                inner = group.exceptions[0]
                # Keep the error's own __cause__ (the original failure); hide only the group.
                raise inner from inner.__cause__
            raise

    def __aiter__(self) -> Any:
        if self._tg is not None:
            # Entered: the Stream is its own iterator (not an async generator), so a ``break``
            # leaves nothing behind for a garbage-collection finaliser to close later.
            return self
        if self._used:
            raise StreamError("a Stream can be used only once; call m.stream(...) again")
        if self._pull is not None:
            self._used = True
            # The leaf's own generator, handed out directly: closing it closes the producer.
            return self._pull(self)
        return self._bare_iter()

    async def __anext__(self) -> Chunk:
        if self._recv is None:
            raise StreamError("iterate the Stream with `async for`, or enter it with `async with` first")
        try:
            return await self._recv.receive()
        except anyio.EndOfStream:
            self._done = True
            raise StopAsyncIteration from None
        except anyio.ClosedResourceError:
            raise StreamError("the Stream was closed; read it inside its `async with` block") from None

    def set_result(self, value: Any) -> None:
        self._result = value
        self._done = True

    async def _bare_iter(self) -> AsyncGenerator[Chunk, None]:
        async with self:
            async for chunk in self:
                yield chunk

    async def collect(self) -> list[Chunk]:
        """Read every chunk; returns them (``result`` then holds the final value)."""
        async with self:
            return [c async for c in self]

    async def text(self) -> str:
        """Read every chunk and return their text joined."""
        return "".join(await self.collect())
