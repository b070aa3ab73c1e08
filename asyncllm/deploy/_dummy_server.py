"""A real HTTP "dummy" inference engine, speaking the OpenAI wire format.

It is what ``deploy.dummy`` starts: a subprocess that behaves like an engine (its
own port, ``/health``, chat/completions/embeddings endpoints, SSE streaming) but
answers deterministically without a model, the way LazyLLM's dummy deploy does::

    reply for <X>, and parameters is {'do_sample': False, 'temperature': 0.1}

where ``X`` is the last user message (chat) or the prompt (completions). Tests of
``TrainableModule`` and of the engine lifecycle (start, readiness, streaming, stop)
therefore run in a second instead of needing llama.cpp and a model.

Run it standalone::

    python -m asyncllm.deploy._dummy_server --host 127.0.0.1 --port 0 --port-file /tmp/p

With ``--port 0`` the OS picks a free port; once the socket is bound the script
prints ``ASYNCLLM_READY port=<port>`` on stdout and, with ``--port-file``, writes the
port there. ``GET /health`` is the readiness probe (200 once serving).

Binding, the port announcement and serving are shared with the other engine scripts
(:mod:`asyncllm.deploy._engine_serve`).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import re
import struct
import sys
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from ._engine_serve import EngineApp, engine_parser, error_response, json_response

# The exact parameter text LazyLLM's dummy deploy appends (seed doc: lazyllm_module_docs.txt).
DUMMY_PARAMETERS = "{'do_sample': False, 'temperature': 0.1}"


def dummy_reply(text: str) -> str:
    """The dummy engine's answer for one input text."""
    return f"reply for {text}, and parameters is {DUMMY_PARAMETERS}"


def pseudo_embedding(text: str, dim: int) -> list[float]:
    """A deterministic unit vector derived from ``text`` (same text -> same vector).

    Built from blake2b blocks so it needs no numpy and is stable across runs and
    platforms; different texts give (near-)orthogonal vectors, which is enough for
    tests of retrieval plumbing.
    """
    values: list[float] = []
    counter = 0
    while len(values) < dim:
        block = hashlib.blake2b(f"{counter}:{text}".encode(), digest_size=64).digest()
        # 16 little-endian uint32 per block, mapped to [-1, 1).
        values.extend(v / 2**31 - 1.0 for v in struct.unpack("<16I", block))
        counter += 1
    del values[dim:]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _count_tokens(text: str) -> int:
    # Whitespace words stand in for tokens: deterministic and good enough for usage tests.
    return len(text.split())


def _pieces(text: str) -> list[str]:
    # Several stream chunks (one per word incl. its trailing space) so clients must reassemble.
    return re.findall(r"\S+\s*", text) or [text]


def _content_text(content: Any) -> str:
    """Text of an OpenAI message ``content``: a string or a list of typed parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", "")) for part in content if isinstance(part, dict) and part.get("type") == "text"
        )
    return str(content)


def _last_user_text(messages: Sequence[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return _content_text(message.get("content"))
    # No user turn: fall back to the last message of any role rather than failing.
    return _content_text(messages[-1].get("content")) if messages and isinstance(messages[-1], dict) else ""


def _sse(data: Any) -> bytes:
    return b"data: " + orjson.dumps(data) + b"\n\n"


def _event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(events, media_type="text/event-stream")


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


class DummyEngine(EngineApp):
    """The ASGI app plus the few settings it answers with."""

    def __init__(self, model_name: str, embed_dim: int, chunk_delay: float) -> None:
        self.embed_dim = embed_dim
        # Optional pause between stream chunks, for tests of cancellation and timeouts.
        self.chunk_delay = chunk_delay
        super().__init__(model_name, [
            Route("/v1/chat/completions", self.chat, methods=["POST"]),
            Route("/v1/completions", self.completions, methods=["POST"]),
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
        ])

    async def chat(self, request: Request) -> Response:
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            return error_response("'messages' must be a non-empty list")
        prompt = _last_user_text(messages)
        reply = dummy_reply(prompt)
        usage = _usage(_count_tokens(prompt), _count_tokens(reply))
        head = self._head(body, "chatcmpl", "chat.completion")
        if body.get("stream"):
            return _event_stream(self._chat_stream({**head, "object": "chat.completion.chunk"}, reply, usage))
        choice = {"index": 0, "message": {"role": "assistant", "content": reply}, "finish_reason": "stop"}
        return json_response({**head, "choices": [choice], "usage": usage})

    async def _chat_stream(self, base: dict[str, Any], reply: str, usage: dict[str, int]) -> AsyncIterator[bytes]:
        yield _sse({**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]})
        for piece in _pieces(reply):
            if self.chunk_delay:
                await anyio.sleep(self.chunk_delay)
            yield _sse({**base, "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        # Usage rides on the final chunk (as vLLM/llama.cpp do with include_usage).
        yield _sse({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage})
        yield b"data: [DONE]\n\n"

    async def completions(self, request: Request) -> Response:
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        prompt = body.get("prompt", "")
        prompts = [str(p) for p in prompt] if isinstance(prompt, list) else [str(prompt)]
        replies = [dummy_reply(p) for p in prompts]
        usage = _usage(sum(_count_tokens(p) for p in prompts), sum(_count_tokens(r) for r in replies))
        head = self._head(body, "cmpl", "text_completion")
        if body.get("stream"):
            return _event_stream(self._completion_stream(head, replies, usage))
        choices = [{"index": i, "text": r, "finish_reason": "stop", "logprobs": None} for i, r in enumerate(replies)]
        return json_response({**head, "choices": choices, "usage": usage})

    def _head(self, body: dict[str, Any], id_prefix: str, kind: str) -> dict[str, Any]:
        """The fields an answer (and each of its stream chunks) starts with."""
        return {"id": f"{id_prefix}-{uuid.uuid4().hex}", "object": kind, "created": int(time.time()),
                "model": self.model_of(body)}

    async def _completion_stream(self, base: dict[str, Any], replies: list[str],
                                 usage: dict[str, int]) -> AsyncIterator[bytes]:
        for index, reply in enumerate(replies):
            for piece in _pieces(reply):
                if self.chunk_delay:
                    await anyio.sleep(self.chunk_delay)
                yield _sse({**base, "choices": [{"index": index, "text": piece, "finish_reason": None}]})
            yield _sse({**base, "choices": [{"index": index, "text": "", "finish_reason": "stop"}]})
        yield _sse({**base, "choices": [], "usage": usage})
        yield b"data: [DONE]\n\n"

    async def embeddings(self, request: Request) -> Response:
        asked = await self.embeddings_request(request)
        if isinstance(asked, Response):
            return asked
        body, texts = asked
        tokens = sum(_count_tokens(t) for t in texts)
        return self.embeddings_answer(body, (pseudo_embedding(t, self.embed_dim) for t in texts), tokens)


def build_parser() -> argparse.ArgumentParser:
    parser = engine_parser(__doc__, "dummy")
    parser.add_argument("--embed-dim", type=int, default=384)
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream chunks")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return DummyEngine(args.model_name, args.embed_dim, args.chunk_delay).run(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
