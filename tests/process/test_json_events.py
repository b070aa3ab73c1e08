"""The worker progress protocol: JSON-object lines cut out of a byte stream fed in any pieces."""

from __future__ import annotations

from asyncllm._json_events import JsonEventLines

STREAM = (b'loading weights...\n{"step": 1, "loss": 2.5}\n[1, 2]\n{"broken": \n'
          b'  {"step": 2, "loss": 1.25}  \nwarn: \xff\xfe odd bytes\n{"done": true, "path": "/tmp/m"}')
EVENTS = [{"step": 1, "loss": 2.5}, {"step": 2, "loss": 1.25}, {"done": True, "path": "/tmp/m"}]


def test_whole_stream_gives_the_object_lines_and_the_unterminated_last_one() -> None:
    lines = JsonEventLines()
    assert lines.feed(STREAM) == EVENTS[:2]
    assert lines.close() == EVENTS[2:]
    assert lines.close() == []


def test_pieces_of_any_size_give_the_same_events() -> None:
    for size in (1, 2, 3, 7, 64):
        lines = JsonEventLines()
        got = []
        for i in range(0, len(STREAM), size):
            got += lines.feed(STREAM[i:i + size])
        assert got + lines.close() == EVENTS, size
