"""The SSE decoder and encoder, fed the awkward ways real networks split bytes."""

from __future__ import annotations

import pytest

from asyncllm._exceptions import ProtocolError
from asyncllm.streaming.sse import SSEDecoder, SSEEvent, encode_sse


def feed_all(chunks: list[bytes], **kw: int) -> list[SSEEvent]:
    d = SSEDecoder(**kw)
    out: list[SSEEvent] = []
    for c in chunks:
        out.extend(d.feed(c))
    return out + d.flush()


STREAM = (b": keep-alive\r\n\r\nevent: message_start\r\ndata: {\"a\": 1}\r\n\r\n"
          b"data: line1\ndata: line2\nid: 7\n\ndata:no-space\r\rdata: [DONE]\n\n")
EXPECTED = [SSEEvent("message_start", '{"a": 1}'), SSEEvent(None, "line1\nline2", "7"),
            SSEEvent(None, "no-space"), SSEEvent(None, "[DONE]")]


def test_whole_stream() -> None:
    assert feed_all([STREAM]) == EXPECTED


def test_byte_by_byte_including_split_crlf() -> None:
    assert feed_all([STREAM[i:i + 1] for i in range(len(STREAM))]) == EXPECTED


def test_every_two_way_split() -> None:
    for i in range(len(STREAM)):
        assert feed_all([STREAM[:i], STREAM[i:]]) == EXPECTED, i


MODEL = b"".join(b'data: {"t": %d}\n\n' % i for i in range(5)) + b"data: x\n\n: ping\n\nevent: e\ndata: y\n\n"
MODEL_EXPECTED = [*(SSEEvent(None, f'{{"t": {i}}}') for i in range(5)), SSEEvent(None, "x"), SSEEvent("e", "y")]


def test_runs_of_plain_data_events_split_anywhere() -> None:
    """What models send (whole one-line ``data:`` events, several or one per read) takes the
    decoder's fast path; every split of it, and what follows it, decodes the same."""
    assert feed_all([MODEL]) == MODEL_EXPECTED
    for i in range(len(MODEL)):
        assert feed_all([MODEL[:i], MODEL[i:]]) == MODEL_EXPECTED, i
        for j in range(i, len(MODEL), 7):
            assert feed_all([MODEL[:i], MODEL[i:j], MODEL[j:]]) == MODEL_EXPECTED, (i, j)
    with pytest.raises(ProtocolError, match="larger than"):  # the cap holds on the fast path too
        feed_all([b"data: ok\n\ndata: " + b"x" * 2000 + b"\n\n"], max_event_bytes=1024)


def test_done_and_json_helpers() -> None:
    assert EXPECTED[-1].is_done and not EXPECTED[0].is_done
    assert EXPECTED[0].json() == {"a": 1}
    with pytest.raises(ProtocolError, match="malformed JSON"):
        SSEEvent(None, '{"broken": ').json()


def test_incomplete_event_at_eof_is_dropped() -> None:
    assert feed_all([b"data: complete\n\ndata: partial"]) == [SSEEvent(None, "complete")]


def test_event_cap() -> None:
    with pytest.raises(ProtocolError, match="larger than"):
        feed_all([b"data: " + b"x" * 2000 + b"\n\n"], max_event_bytes=1024)
    with pytest.raises(ProtocolError, match="larger than"):  # no newline at all: the line buffer counts
        feed_all([b"data: " + b"x" * 600, b"y" * 600], max_event_bytes=1024)
    with pytest.raises(ProtocolError):  # many small data lines add up
        feed_all([b"data: " + b"x" * 100 + b"\n"] * 20, max_event_bytes=1024)


def test_comment_only_and_unknown_fields_dispatch_nothing() -> None:
    assert feed_all([b": ping\n\nretry: 5\nfoo: bar\n\n"]) == []


@pytest.mark.parametrize("data", ["hello", "multi\nline\r\nthree", "", '{"x": "y"}'])
def test_encode_roundtrip(data: str) -> None:
    want = data.replace("\r\n", "\n")
    assert feed_all([encode_sse(data, event="delta")]) == [SSEEvent("delta", want)]
    assert feed_all([encode_sse(data.encode())]) == [SSEEvent(None, want)]


def test_encode_shapes() -> None:
    assert encode_sse("x") == b"data: x\n\n"
    assert encode_sse(b"a\nb", event="e") == b"event: e\ndata: a\ndata: b\n\n"
    with pytest.raises(ValueError):
        encode_sse("x", event="bad\nname")
