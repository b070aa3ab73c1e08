"""A served request's headers are read in one pass, by the guard: the routes take what they need
(content type, Accept, the session header) from what it read, rather than scanning again."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from asyncllm.serving.app import create_app
from asyncllm.serving.wire import SESSION_HEADER, encode_session

pytestmark = pytest.mark.anyio


class CountedHeaders(list[tuple[bytes, bytes]]):
    """A scope's header list that counts the passes over it."""

    passes = 0

    def __iter__(self) -> Any:
        self.passes += 1
        return super().__iter__()


def echo_session(x: str) -> str:
    import asyncllm as al

    return f"{x} {al.current_session().id}"


async def _call(path: str, body: dict[str, Any], extra: list[tuple[bytes, bytes]]) -> tuple[int, bytes, int]:
    app = create_app(echo_session)
    raw = orjson.dumps(body)
    headers = CountedHeaders([(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                              (b"content-length", str(len(raw)).encode()), *extra])
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": headers,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 2)}
    sent = [{"type": "http.request", "body": raw, "more_body": False}]
    answer: list[Any] = []

    async def receive() -> Any:
        return sent.pop() if sent else {"type": "http.disconnect"}

    async def send(message: Any) -> None:
        answer.append(message)

    await app(scope, receive, send)
    status = next(m["status"] for m in answer if m["type"] == "http.response.start")
    return status, b"".join(m.get("body", b"") for m in answer if m["type"] == "http.response.body"), headers.passes


async def test_generate_reads_its_headers_once() -> None:
    session = encode_session({"id": "sid-1"}).encode()
    status, body, passes = await _call("/generate", {"args": ["hi"]},
                                       [(b"accept", b"application/json"), (SESSION_HEADER.encode(), session)])
    assert status == 200 and orjson.loads(body) == {"output": "hi sid-1"}  # the session header was read
    assert passes == 1


async def test_the_openai_face_reads_its_headers_once() -> None:
    status, body, passes = await _call("/v1/chat/completions", {"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}, [])
    assert status == 200 and orjson.loads(body)["choices"][0]["message"]["content"].startswith("hi ")
    assert passes == 1
