"""The progress protocol of our worker processes: one JSON object per line, among other output.

A fine-tune worker prints its events on stdout; a local run reads them from the pipe and a
remote job (Ray, Slurm) from a file that it follows. Both cut the same byte stream into lines
with :class:`JsonEventLines`.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["JsonEventLines"]


class JsonEventLines:
    """Takes the stream in pieces of any size; gives back the JSON objects of each whole line.

    Lines that are not a JSON object (a library's own prints, a half-written frame) are skipped:
    a worker's stdout is not ours alone.
    """

    __slots__ = ("_rest",)

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        *lines, self._rest = (self._rest + data).split(b"\n")
        events = []
        for line in lines:
            line = line.strip()
            if not line.startswith(b"{"):
                continue
            try:
                event = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events

    def close(self) -> list[dict[str, Any]]:
        """The events of a last line that had no newline."""
        return self.feed(b"\n")
