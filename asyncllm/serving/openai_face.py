"""The OpenAI-compatible face every served module has: ``POST /v1/chat/completions``
(streamed and not) and ``GET /v1/models``, so any OpenAI client can call a served module.

* **Validation.** Every field the face reads is checked (a 400 names the field and what it
  takes): ``messages`` (roles, string or content-part contents, ``text`` and ``image_url``
  parts), ``model``, ``stream``, ``stream_options``, ``n`` (1 only), the sampling fields.
  ``tools`` and non-text ``response_format`` are refused (a served module has no tool
  calling through this face). Other fields are ignored, as OpenAI-compatible servers do.
* **Input.** The last message must be the user's: its text is the module's input; its
  ``image_url`` parts are caller files (data URLs, or URLs if the policy allows them) and
  travel with the text as a ``<lazyllm-query>`` string.
* **History.** The messages before it (system prompts included) are the conversation: given
  as ``llm_chat_history`` (``{"role", "content"}`` dicts) to the served object when it takes
  that keyword by name, and to every LLM module inside a served flow (through the session, as
  per-module history); always readable as ``al.current_session().conversation``. A module
  that takes no history still answers (it sees the last message only).
* **Sampling fields** (``temperature``, ``max_tokens``, ...) reach the module only when the
  server's caller policy opens them, capped like any caller parameter; otherwise ignored.
* **Output.** A non-string output is sent as its JSON text. Streamed text chunks become
  ``delta.content``, ``think`` chunks ``delta.reasoning_content``; a module that streams
  nothing sends its whole answer as one delta. Usage comes from the request's session.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .._context import Session, session
from .._ids import new_id
from .._query import encode_query_with_filepaths
from ..modules.base import ModuleBase
from ..modules.lifecycle import post_order
from ..streaming.sse import encode_sse
from ..streaming.stream import Stream
from ._asgi import EventStream, HTTPFail, json_response, read_json, session_header
from ._gate import Gate, declared_params
from .wire import dumps, error_body, to_wire

if TYPE_CHECKING:
    from .app import ServedApp

__all__ = ["openai_routes"]

_ROLES = frozenset({"system", "developer", "user", "assistant", "tool"})
# Sampling fields and the JSON types they take; they reach the module only if the policy opens them.
_NUMBER = (int, float)
_SAMPLING: dict[str, tuple[type, ...]] = {
    "temperature": _NUMBER, "top_p": _NUMBER, "presence_penalty": _NUMBER, "frequency_penalty": _NUMBER,
    "max_tokens": (int,), "max_completion_tokens": (int,), "seed": (int,), "stop": (str, list),
}


def _bad(field: str, want: str) -> HTTPFail:
    return HTTPFail(400, "BadRequest", f"{field} must be {want}", param=field)


def _is(value: Any, types: tuple[type, ...]) -> bool:
    return isinstance(value, types) and not isinstance(value, bool)


@dataclass
class _Chat:
    """One validated chat request."""

    query: str
    images: list[str]
    history: list[dict[str, Any]]
    sampling: dict[str, Any]
    model: str | None
    stream: bool
    include_usage: bool


def _content(msg: dict[str, Any], field: str, images: list[str] | None) -> str:
    """A message's text; ``image_url`` parts go to ``images`` (None: images are not read here)."""
    content = msg.get("content")
    if content is None:
        if msg["role"] in ("assistant", "tool"):
            return ""  # e.g. an assistant turn that only called tools
        raise _bad(f"{field}.content", "a string or a list of content parts")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise _bad(f"{field}.content", "a string or a list of content parts")
    texts: list[str] = []
    for j, part in enumerate(content):
        where = f"{field}.content[{j}]"
        if not isinstance(part, dict) or not isinstance(part.get("type"), str):
            raise _bad(where, 'an object with a "type"')
        kind = part["type"]
        if kind == "text":
            if not isinstance(part.get("text"), str):
                raise _bad(f"{where}.text", "a string")
            texts.append(part["text"])
        elif kind == "image_url":
            url = part.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            if not isinstance(url, str):
                raise _bad(f"{where}.image_url.url", "a string (a data: URL)")
            if images is not None:
                images.append(url)
        else:
            raise HTTPFail(400, "BadRequest", f"{where}: content parts of type {kind!r} are not supported; "
                           "this server takes 'text' and 'image_url' parts", param=where)
    return "".join(texts)


def parse_chat(body: Any) -> _Chat:
    """Validate a ``/v1/chat/completions`` body (see the module docstring)."""
    if not isinstance(body, dict):
        raise _bad("body", "a JSON object")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _bad("messages", "a non-empty list of messages")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            raise _bad(f"messages[{i}]", 'an object {"role", "content"}')
        if msg.get("role") not in _ROLES:
            raise _bad(f"messages[{i}].role", f"one of {', '.join(sorted(_ROLES))}")
    last = len(messages) - 1
    if messages[last]["role"] != "user":
        raise HTTPFail(400, "BadRequest", "messages: the last message must be the user's: this server answers it "
                       f"(got a {messages[last]['role']!r} message last)", param="messages")
    images: list[str] = []
    query = _content(messages[last], f"messages[{last}]", images)
    history = []
    for i, msg in enumerate(messages[:last]):
        role = "system" if msg["role"] == "developer" else msg["role"]
        history.append({"role": role, "content": _content(msg, f"messages[{i}]", None)})
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("model", "a string")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise _bad("stream", "true or false")
    opts = body.get("stream_options")
    if opts is not None and (not isinstance(opts, dict) or not isinstance(opts.get("include_usage", False), bool)):
        raise _bad("stream_options", 'an object {"include_usage": true|false}')
    n = body.get("n")
    if n is not None and (not _is(n, (int,)) or n != 1):
        raise HTTPFail(400, "BadRequest", "n must be 1: a served module gives one answer per request", param="n")
    if body.get("tools") or body.get("functions"):
        raise HTTPFail(400, "BadRequest", "tools are not supported by a served module's OpenAI face",
                       param="tools")
    fmt = body.get("response_format")
    if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type", "text") != "text"):
        raise HTTPFail(400, "BadRequest", "only response_format {\"type\": \"text\"} is supported",
                       param="response_format")
    sampling: dict[str, Any] = {}
    for name, types in _SAMPLING.items():
        value = body.get(name)
        if value is None:
            continue
        if not _is(value, types) or (name == "stop" and isinstance(value, list)
                                     and not all(isinstance(s, str) for s in value)):
            raise _bad(name, "a number" if types is _NUMBER else "an integer" if types == (int,)
                       else "a string or a list of strings")
        sampling[name] = value
    return _Chat(query, images, history, sampling, model, bool(stream),
                 bool(opts and opts.get("include_usage")))


def _history_receivers(target: Any) -> tuple[bool, list[str]]:
    """(whether the served object itself takes ``llm_chat_history`` by name, the ids of the
    LLM modules inside it that take it)."""
    if not isinstance(target, ModuleBase):
        return "llm_chat_history" in declared_params(target), []
    if "llm_chat_history" in declared_params(target.forward) or getattr(target, "takes_chat_history", False):
        return True, []
    return False, [m.id for m in post_order(target)
                   if m is not target and (getattr(m, "takes_chat_history", False)
                                           or "llm_chat_history" in declared_params(m.forward))]


def _as_text(output: Any) -> str:
    if isinstance(output, str):
        return str(output)
    return dumps(to_wire(output, "the served module's output")).decode()


def _usage(app: ServedApp, sess: Session) -> dict[str, int]:
    total = app.usage(sess) if sess.usage_log else {"prompt_tokens": 0, "completion_tokens": 0}
    p, c = max(total["prompt_tokens"], 0), max(total["completion_tokens"], 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def openai_routes(app: ServedApp) -> list[Route]:
    takes_history, history_ids = _history_receivers(app.target)

    async def models(request: Request) -> Response:
        return json_response({"object": "list", "data": [
            {"id": app.model_name, "object": "model", "created": 0, "owned_by": "asyncllm"}]})

    def admit(chat: _Chat, gate: Gate, request: Request) -> tuple[str, dict[str, Any], Session]:
        query = gate.decode(chat.query)  # a <lazyllm-query> text names files: they are checked too
        for msg in chat.history:
            msg["content"] = gate.decode(msg["content"])
        if chat.images:
            query = encode_query_with_filepaths(query, gate.files(chat.images, "an image_url content part"))
        policy = app.options.caller
        kw = gate.kwargs({k: v for k, v in chat.sampling.items() if k in policy.params}, where="field")
        sess = gate.session(session_header(request))
        if chat.history:
            gate.history("earlier messages")
            sess.conversation = chat.history
            if takes_history:
                kw["llm_chat_history"] = chat.history
            for mid in history_ids:
                sess.chat_history.setdefault(mid, chat.history)
        return query, kw, sess

    async def chat(request: Request) -> Response | EventStream:
        gate = app.gate()
        try:
            req = parse_chat(await read_json(request, app.max_body))
            query, kw, sess = admit(req, gate, request)
            await gate.open()
        except HTTPFail as fail:
            await gate.aclose()
            return fail.response()
        model = req.model or app.model_name
        rid, created = f"chatcmpl-{new_id()}", int(time.time())
        if req.stream:
            return EventStream(lambda send: _stream(app, query, kw, sess, gate, send, rid, created, model,
                                                    req.include_usage), app.sse_keepalive)

        async def work() -> Any:
            with session(sess):
                out = await app.timed(lambda: app.invoker((query,), kw))
            return {"id": rid, "object": "chat.completion", "created": created, "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": _as_text(out)},
                                 "finish_reason": "stop"}],
                    "usage": _usage(app, sess)}

        return await app.respond(request, work, gate)

    return [Route("/v1/models", models, methods=["GET"]),
            Route("/v1/chat/completions", chat, methods=["POST"])]


async def _stream(app: ServedApp, query: str, kw: dict[str, Any], sess: Session, gate: Gate,
                  send: Callable[[bytes], Awaitable[None]], rid: str, created: int, model: str,
                  with_usage: bool) -> None:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        return encode_sse(dumps({"id": rid, "object": "chat.completion.chunk", "created": created,
                                        "model": model, "choices": [{"index": 0, "delta": delta,
                                                                     "finish_reason": finish}], **extra}))

    try:
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
                                                "model": model, "choices": [], "usage": _usage(app, sess)})))
        await send(encode_sse(b"[DONE]"))
    finally:
        await gate.aclose()
