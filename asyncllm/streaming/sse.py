"""Server-Sent Events: an incremental decoder over byte chunks, and an encoder.

The decoder follows the WHATWG ``text/event-stream`` rules that LLM providers rely on:
lines end in ``\\n``, ``\\r\\n`` or ``\\r`` (even when split across chunks), several ``data:``
lines join with ``\\n``, ``:``-lines are comments (keep-alives), ``event:`` names the event,
and a blank line dispatches it. One event may not exceed ``max_event_bytes`` (1 MiB by
default): a peer that never sends a blank line must not grow our memory without bound.

``[DONE]`` (OpenAI's end marker) is a normal ``data`` payload here; :attr:`SSEEvent.is_done`
lets callers test for it.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import orjson

from asyncllm._exceptions import ProtocolError

__all__ = ["MAX_EVENT_BYTES", "SSEDecoder", "SSEEvent", "encode_sse"]

MAX_EVENT_BYTES = 1 << 20


class SSEEvent(NamedTuple):
    """One dispatched event. ``event`` is None when the peer sent no ``event:`` line."""

    event: str | None
    data: str
    id: str | None = None

    @property
    def is_done(self) -> bool:
        """True for OpenAI's ``data: [DONE]`` end marker."""
        return self.data == "[DONE]"

    def json(self) -> Any:
        """The data parsed as JSON; a malformed payload raises :class:`ProtocolError`."""
        try:
            return orjson.loads(self.data)
        except orjson.JSONDecodeError as exc:
            name, snippet = self.event or "message", self.data[:80]
            raise ProtocolError(f"malformed JSON in SSE event {name!r}: {snippet!r}") from exc


# tuple.__new__ builds an SSEEvent from its three fields without the generated __new__'s
# argument handling: it runs once per event of every stream.
_new_event = tuple.__new__


class SSEDecoder:
    """Feed byte chunks, get complete :class:`SSEEvent` items back."""

    __slots__ = ("_buf", "_data", "_event", "_id", "_max", "_size")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._max = max_event_bytes
        self._buf = b""  # an incomplete trailing line (already CR-normalised, except a final \r)
        self._data: list[bytes] = []
        self._event: bytes | None = None
        self._id: bytes | None = None
        self._size = 0  # bytes held for the event being built

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Decode ``chunk``; returns the events it completed (often none or one)."""
        buf = self._buf + chunk if self._buf else chunk
        if b"\r" in buf:
            # A trailing \r may be the first half of \r\n: hold it back until the next chunk.
            hold = buf.endswith(b"\r")
            if hold:
                buf = buf[:-1]
            buf = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
            if hold:
                buf += b"\r"
        if not self._data and self._event is None and self._id is None and buf[:6] == b"data: ":
            # The fast path, for what models send: whole events of one ``data: `` line each (no
            # event name, id or comment). Counting tells it apart without a look at each line:
            # every newline up to the last blank line is half of a separator, and every
            # separator but the last is followed by ``data: ``. Anything else goes line by line.
            cut = buf.rfind(b"\n\n") + 2
            if cut == len(buf) and buf.find(b"\n") == cut - 2 and cut - 8 <= self._max:
                self._buf = b""  # exactly one event: a read per event is common
                return [_new_event(SSEEvent, (None, buf[6:-2].decode("utf-8", "replace"), None))]
            if 1 < cut <= self._max:
                n = buf.count(b"\n\n", 0, cut)
                if buf.count(b"\n", 0, cut) == 2 * n and buf.count(b"\n\ndata: ", 0, cut) == n - 1:
                    texts = buf[6:cut - 2].decode("utf-8", "replace").split("\n\ndata: ")
                    out = [_new_event(SSEEvent, (None, text, None)) for text in texts]
                    self._buf = b""
                    if cut < len(buf):
                        out.extend(self._lines(buf[cut:]))
                    return out
        return self._lines(buf)

    def _lines(self, buf: bytes) -> list[SSEEvent]:
        """Decode ``buf`` (the held-back partial line included) line by line."""
        lines = buf.split(b"\n")
        self._buf = lines.pop()
        out: list[SSEEvent] = []
        for line in lines:
            if not line:
                if self._data:
                    out.append(self._dispatch())
                else:
                    self._event = self._id = None
            elif line[:6] == b"data: ":  # nearly every line of a model's stream: no _field call
                self._data.append(value := line[6:])
                self._size += len(value) + 1
                if self._size > self._max:
                    raise ProtocolError(f"SSE event larger than {self._max} bytes")
            else:
                self._field(line)
        if self._size + len(self._buf) > self._max:
            raise ProtocolError(f"SSE event larger than {self._max} bytes; the peer sent no event boundary")
        return out

    def flush(self) -> list[SSEEvent]:
        """End of stream. Per the spec an event without its closing blank line is dropped."""
        self._buf = b""
        self._data.clear()
        self._event = self._id = None
        self._size = 0
        return []

    def _field(self, line: bytes) -> None:
        if line[0] == 0x3A:  # ':' comment / keep-alive
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data.append(value)
            self._size += len(value) + 1
            if self._size > self._max:
                raise ProtocolError(f"SSE event larger than {self._max} bytes")
        elif name == b"event":
            self._event = value
        elif name == b"id" and b"\0" not in value:
            self._id = value
        # 'retry' and unknown fields are ignored, as the spec says.

    def _dispatch(self) -> SSEEvent:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        ev = _new_event(SSEEvent, (
            self._event.decode("utf-8", "replace") if self._event else None,
            data.decode("utf-8", "replace"),
            self._id.decode("utf-8", "replace") if self._id is not None else None,
        ))
        self._data = []
        self._event = self._id = None
        self._size = 0
        return ev


def encode_sse(data: bytes | str, event: str | None = None) -> bytes:
    """Encode one event. Newlines in ``data`` become several ``data:`` lines, as the spec wants."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    if event is not None and ("\n" in event or "\r" in event):
        raise ValueError(f"SSE event name may not contain a newline: {event!r}")
    head = b"event: " + event.encode("utf-8") + b"\n" if event is not None else b""
    if b"\n" not in raw and b"\r" not in raw:
        return head + b"data: " + raw + b"\n\n"
    lines = raw.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    return head + b"".join(b"data: " + ln + b"\n" for ln in lines) + b"\n"
