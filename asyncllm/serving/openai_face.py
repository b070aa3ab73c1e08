"""The OpenAI-compatible face every served module has: ``POST /v1/chat/completions``
(streamed and not) and ``GET /v1/models``, so any OpenAI client can call a served module.

The content of the last user message is the module's input; the messages before it are
passed as ``llm_chat_history`` (OpenAI ``{"role", "content"}`` dicts) when the module accepts
that keyword. A non-string output is sent as its JSON text. Streamed text chunks become
``delta.content``, ``think`` chunks ``delta.reasoning_content``; a module that streams
nothing sends its whole answer as one delta. Usage comes from the request's session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._context import Session, session
from ..streaming.sse import encode_sse
from ..streaming.stream import Stream
from ._asgi import EventStream, HTTPFail, json_response, read_json
from .wire import error_body, to_wire

if TYPE_CHECKING:
    from .app import ServedApp

__all__ = ["openai_routes"]


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise HTTPFail(400, "BadRequest", "message content must be a string or a list of content parts")


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return str(output)
    return orjson.dumps(to_wire(output, "the served module's output")).decode()


def _usage(sess: Session) -> dict[str, int]:
    total = sess.total_usage() if sess.usage_log else {"prompt_tokens": 0, "completion_tokens": 0}
    p, c = max(total["prompt_tokens"], 0), max(total["completion_tokens"], 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def openai_routes(app: ServedApp) -> list[Route]:
    async def models(request: Request) -> Response:
        return json_response({"object": "list", "data": [
            {"id": app.model_name, "object": "model", "created": 0, "owned_by": "asyncllm"}]})

    async def chat(request: Request) -> Response | EventStream:
        try:
            body = await read_json(request, app.max_body)
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body["messages"]:
                raise HTTPFail(400, "BadRequest", "body must be an object with a non-empty 'messages' list")
            messages = body["messages"]
            last = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"),
                       default=None)
            if last is None:
                raise HTTPFail(400, "BadRequest", "'messages' holds no user message to answer")
            query = _text(messages[last].get("content"))
            history = [{"role": m.get("role"), "content": _text(m.get("content"))}
                       for m in messages[:last] if isinstance(m, dict)]
            sess = app.session_for(request)
        except HTTPFail as fail:
            return fail.response()
        kw: dict[str, Any] = {"llm_chat_history": history} if history and app.invoker.accepts_history() else {}
        model = str(body.get("model") or app.model_name)
        rid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        if body.get("stream"):
            opts = body.get("stream_options")
            with_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            return EventStream(lambda send: _stream(app, query, kw, sess, send, rid, created, model, with_usage),
                               app.sse_keepalive)

        async def work() -> Any:
            with session(sess):
                out = await app.timed(lambda: app.invoker((query,), kw))
            return {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": _as_text(out)},
                                 "finish_reason": "stop"}],
                    "usage": _usage(sess)}

        return await app.respond(request, work)

    return [Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"])]


async def _stream(app: ServedApp, query: str, kw: dict[str, Any], sess: Session,
                  send: Callable[[bytes], Awaitable[None]], rid: str, created: int, model: str,
                  with_usage: bool) -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return encode_sse(orjson.dumps({"id": rid, "object": "chat.completion.chunk", "created": created,
                                        "model": model, "choices": [{"index": 0, "delta": delta,
                                                                     "finish_reason": finish}], **extra}))

    await send(chunk({"role": "assistant", "content": ""}))
    sent_text = False
    with session(sess):
        stream = Stream(lambda: app.timed(lambda: app.invoker((query,), kw)), name=app.invoker.name)
        try:
            async with stream as pieces:
                async for c in pieces:
                    if c.tag == "text" and c:
                        sent_text = True
                        await send(chunk({"content": str(c)}))
                    elif c.tag == "think" and c:
                        await send(chunk({"reasoning_content": str(c)}))
            if not sent_text:
                await send(chunk({"content": _as_text(stream.result)}))
        except Exception as exc:
            fail = app.failure(exc)
            await send(encode_sse(orjson.dumps(error_body(fail.type, fail.message, **fail.extra))))
            return
    await send(chunk({}, "stop"))
    if with_usage:
        await send(encode_sse(orjson.dumps({"id": rid, "object": "chat.completion.chunk", "created": created,
                                            "model": model, "choices": [], "usage": _usage(sess)})))
    await send(encode_sse(b"[DONE]"))
