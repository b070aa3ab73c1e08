"""Native wires of providers that are not OpenAI-shaped: Google Gemini and Ollama. Replies are the
fake's usual ``fake reply to: <last user text>``; vectors come from ``embed.vector``.

Gemini (google-genai 3.3.0 ``models.py`` / ``types.py``; https://ai.google.dev/api/generate-content):
``POST /v1/models/{model}:generateContent`` → ``{candidates: [{content: {role: model, parts},
finishReason}], usageMetadata, modelVersion, responseId}``; ``:streamGenerateContent?alt=sse``
sends one such object per SSE event, the last with ``finishReason`` and the full
``usageMetadata``; ``:batchEmbedContents`` → ``{embeddings: [{values}]}``. Roles other than
``user`` / ``model`` are a 400 ("Please use a valid role: user, model."). Thought parts (``thought:
true``) only when ``generationConfig.thinkingConfig.includeThoughts`` is set.

Gemini 3 thought signatures (a model named ``gemini-3...``; :func:`gemini3_check`), as
https://ai.google.dev/gemini-api/docs/thought-signatures describes them: an answer that calls
functions carries ``thoughtSignature`` on its first ``functionCall`` part only (parallel calls:
the others none), a text answer on its last part; a request whose current turn has a model
step whose first ``functionCall`` part lacks its signature is a 400. A model name holding
``late-signature`` streams the call unsigned and its signature in a later chunk, on a part with
empty text (the case modfin/bellman#35 reports). Gemini 2.5 models get none of this, as before.

Ollama (ollama 0.6.3 ``_client.py`` / ``_types.py``; github.com/ollama/ollama docs/api.md):
``POST /api/chat`` → ``{model, created_at, message: {role, content, thinking?, tool_calls?},
done, done_reason, prompt_eval_count, eval_count, ...}``; streamed (``stream`` defaults to true)
as one such object per line (``application/x-ndjson``), the last with ``done: true``; tool calls
come whole, arguments as an object; ``thinking`` only with ``think: true``; ``options.num_predict``
caps the answer. ``POST /api/embed`` → ``{model, embeddings}``. Errors are ``{"error": "..."}``.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from asyncllm.streaming.sse import encode_sse

from . import errors, structured
from .chat import finish_reason, mid_stream_fault, words
from .embed import vector
from .state import FakeState, Fault
from .wire import DROP, SSEBody, json_response

GEMINI_FINISH = {"stop": "STOP", "length": "MAX_TOKENS", "content_filter": "SAFETY"}


def field(obj: Any, camel: str) -> Any:
    """A request field by its JSON name or its proto name: proto3 JSON parsers take both
    (https://protobuf.dev/programming-guides/json/), and google-genai sends some snake_case
    (``thinking_config``'s ``include_thoughts``, ``parameters_json_schema``)."""
    if not isinstance(obj, dict):
        return None
    if camel in obj:
        return obj[camel]
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in camel)
    return obj.get(snake)


# ------------------------------------------------------------------------------ Gemini


def thought_signature(call: dict[str, Any]) -> str:
    """The fake's signature of one function call: base64 like the real one (google-genai 3.3.0
    ``types.py``: ``Part.thought_signature`` is bytes, base64 on the wire), and checkable: it
    is derived from the call, so a call sent back changed no longer matches it."""
    raw = orjson.dumps([call.get("name"), call.get("args") or {}], option=orjson.OPT_SORT_KEYS)
    return base64.b64encode(b"fake-sig:" + hashlib.sha256(raw).digest()).decode()


def gemini3_check(contents: list[dict[str, Any]]) -> str | None:
    """Gemini 3's validation, or None when the request passes. Only the current turn is checked:
    the model turns after the latest user turn with standard content (not only function
    responses); in each, the first ``functionCall`` part must carry its signature ("Validation"
    in the thought-signatures doc; earlier turns are not validated). The message is the API's
    (Google AI forum thread 109823, sipeed/picoclaw#79: ``default_api:<name>`` and the content
    block's position); a signature that does not match is "Corrupted thought signature." (the
    apiyi FAQ on Gemini's two signature errors, docs.apiyi.com/en/live/2026-10)."""
    start = 0
    for i in range(len(contents) - 1, -1, -1):
        c = contents[i]
        if c["role"] == "user" and any(not field(p, "functionResponse") for p in c["parts"]):
            start = i + 1
            break
    for i in range(start, len(contents)):
        c = contents[i]
        first = next((p for p in c["parts"] if field(p, "functionCall")), None) if c["role"] == "model" else None
        if first is None:
            continue
        call = field(first, "functionCall")
        sig = field(first, "thoughtSignature")
        if not sig:
            return ("Function call is missing a thought_signature in functionCall parts. This is required for "
                    "tools to work correctly, and missing thought_signature may lead to degraded model "
                    f"performance. Additional data, function call `default_api:{call.get('name')}` , position "
                    f"{i + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more "
                    "details.")
        if sig != thought_signature(call):
            return "Corrupted thought signature."
    return None


def gemini_error(status: int, message: str, state: str) -> Any:
    return {"error": {"code": status, "message": message, "status": state}}


def _gemini_text(parts: list[dict[str, Any]]) -> str:
    return " ".join(p["text"] for p in parts if isinstance(p, dict) and isinstance(p.get("text"), str))


async def gemini(request: Request, body: dict[str, Any], fault: Fault | None, state: FakeState,
                 headers: dict[str, str]) -> Response:
    model, _, action = request.path_params["call"].partition(":")
    if action == "batchEmbedContents":
        return _gemini_embed(body, headers)
    if action not in ("generateContent", "streamGenerateContent"):
        return json_response(gemini_error(404, f"unknown method {action}", "NOT_FOUND"), 404, headers)
    contents = body.get("contents")
    if not isinstance(contents, list) or not contents:
        return json_response(gemini_error(400, "* GenerateContentRequest.contents: contents is not specified",
                                          "INVALID_ARGUMENT"), 400, headers)
    for c in contents:
        if c.get("role") not in ("user", "model") or not c.get("parts"):
            return json_response(gemini_error(400, "Please use a valid role: user, model.", "INVALID_ARGUMENT"),
                                 400, headers)
    gemini3 = model.removeprefix("models/").startswith("gemini-3")
    if gemini3 and (refused := gemini3_check(contents)):
        return json_response(gemini_error(400, refused, "INVALID_ARGUMENT"), 400, headers)
    last = contents[-1]
    responses = [field(p, "functionResponse") for p in last["parts"] if field(p, "functionResponse")]
    user_texts = [_gemini_text(c["parts"]) for c in contents if c["role"] == "user" and _gemini_text(c["parts"])]
    question = user_texts[-1] if user_texts else ""
    if responses:
        text = "fake reply to tool results: " + "; ".join(str((r.get("response") or {}).get("result"))
                                                          for r in responses)
    else:
        text = "fake reply to: " + question
    config = field(body, "generationConfig") or {}
    # structured output: generationConfig.responseJsonSchema (google-genai: response_json_schema)
    if (schema := field(config, "responseJsonSchema") or field(config, "responseSchema")) is not None:
        text = structured.answer(schema, False)
    ws = words(text)
    reason, n = finish_reason(fault, len(ws), field(config, "maxOutputTokens"))
    decls = [d for t in body.get("tools") or [] for d in field(t, "functionDeclarations") or []]
    mode = field(field(body, "toolConfig"), "functionCallingConfig") or {}
    mode = mode.get("mode")
    calls = [] if responses or mode == "NONE" else [
        {"functionCall": {"name": d.get("name"), "args": {"query": question, "n": i}}} for i, d in enumerate(decls)]
    if gemini3 and calls:  # the first functionCall part only
        calls[0]["thoughtSignature"] = thought_signature(calls[0]["functionCall"])
    thinking = bool(field(field(config, "thinkingConfig"), "includeThoughts"))
    thought = f"thinking about: {question}"
    prompt_tokens = sum(len(words(_gemini_text(c["parts"]))) for c in contents)
    thoughts_tokens = len(words(thought)) if thinking else 0

    def usage(out_tokens: int) -> dict[str, Any]:
        u = {"promptTokenCount": prompt_tokens, "candidatesTokenCount": out_tokens,
             "totalTokenCount": prompt_tokens + out_tokens + thoughts_tokens}
        if thinking:
            u["thoughtsTokenCount"] = thoughts_tokens
        return u

    rid = headers["x-request-id"]

    def answer(parts: list[dict[str, Any]], fin: str | None, out_tokens: int | None) -> dict[str, Any]:
        cand: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
        if fin:
            cand["finishReason"] = GEMINI_FINISH[fin]
        a: dict[str, Any] = {"candidates": [cand], "modelVersion": model, "responseId": rid}
        if out_tokens is not None:
            a["usageMetadata"] = usage(out_tokens)
        return a

    # a Gemini 3 answer without calls signs its last part (not validated when sent back)
    text_sig = {"thoughtSignature": thought_signature({"name": "text", "args": {"text": text}})} if gemini3 else {}
    if action == "generateContent":
        parts: list[dict[str, Any]] = [{"text": thought, "thought": True}] if thinking else []
        parts += calls or [{"text": "".join(ws[:n]), **text_sig}]
        return json_response(answer(parts, reason, n), 200, headers)
    if request.query_params.get("alt") != "sse":  # without alt=sse the API streams a JSON array
        return json_response(gemini_error(400, "this fake streams only with alt=sse, as the SDK asks",
                                          "INVALID_ARGUMENT"), 400, headers)
    frames: list[bytes] = []
    if thinking:
        frames.extend(encode_sse(orjson.dumps(answer([{"text": w, "thought": True}], None, None)))
                      for w in words(thought))
    if calls and gemini3 and "late-signature" in model:  # the call unsigned, then its signature
        first = dict(calls[0])
        signed = {"text": "", "thoughtSignature": first.pop("thoughtSignature")}
        frames.append(encode_sse(orjson.dumps(answer([first, *calls[1:]], None, None))))
        frames.append(encode_sse(orjson.dumps(answer([signed], reason, n))))
    elif calls:
        frames.append(encode_sse(orjson.dumps(answer(calls, reason, n))))
    else:
        pieces = ws[:n]
        for i, w in enumerate(pieces):
            last_piece = i == len(pieces) - 1
            part = {"text": w, **(text_sig if last_piece else {})}
            frames.append(encode_sse(orjson.dumps(answer([part], reason if last_piece else None,
                                                         n if last_piece else None))))
    return SSEBody(_play(frames, fault, "gemini"), state, headers)


def _gemini_embed(body: dict[str, Any], headers: dict[str, str]) -> Response:
    reqs = body.get("requests")
    if not isinstance(reqs, list) or not reqs:
        return json_response(gemini_error(400, "* BatchEmbedContentsRequest.requests: requests is not specified",
                                          "INVALID_ARGUMENT"), 400, headers)
    out = []
    for r in reqs:
        text = _gemini_text((r.get("content") or {}).get("parts") or [])
        out.append({"values": vector(text, int(field(r, "outputDimensionality") or 8))})
    return json_response({"embeddings": out}, 200, headers)


# ------------------------------------------------------------------------------ Ollama


def _ollama_text(content: Any) -> str:
    return content if isinstance(content, str) else ""


async def ollama_chat(request: Request, body: dict[str, Any], fault: Fault | None, state: FakeState,
                      headers: dict[str, str]) -> Response:
    model = body.get("model")
    if not model:
        return json_response({"error": "model is required"}, 400, headers)
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    question = next((_ollama_text(m.get("content")) for m in reversed(messages) if m.get("role") == "user"), "")
    if last.get("role") == "tool":
        text = "fake reply to tool results: " + "; ".join(_ollama_text(m.get("content")) for m in messages
                                                          if m.get("role") == "tool")
    else:
        users = [m for m in messages if m.get("role") == "user"]
        q = _ollama_text(users[-1].get("content")) if users else ""
        images = len(users[-1].get("images") or []) if users else 0
        text = "fake reply to: " + q + (f" [+{images} media]" if images else "")
    opts = body.get("options") or {}
    fmt = body.get("format")
    # structured output: format is "json" or a JSON schema (ollama 0.6.3 _types.py ChatRequest.format)
    if isinstance(fmt, dict) or fmt == "json":
        schema = fmt if isinstance(fmt, dict) else structured.schema_asked({}, question) or {"type": "object"}
        text = structured.answer(schema, False)
    ws = words(text)
    reason, n = finish_reason(fault, len(ws), opts.get("num_predict"))
    tools = [] if last.get("role") == "tool" else body.get("tools") or []
    calls = [{"function": {"name": (t.get("function") or {}).get("name"), "arguments": {"query": question, "n": i}}}
             for i, t in enumerate(tools)]
    think = bool(body.get("think"))
    thought = f"thinking about: {question}"
    created = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    prompt_tokens = sum(len(words(_ollama_text(m.get("content")))) for m in messages)
    done_reason = "length" if reason == "length" else "stop"

    def obj(message: dict[str, Any], done: bool) -> dict[str, Any]:
        o: dict[str, Any] = {"model": model, "created_at": created, "message": {"role": "assistant", **message},
                             "done": done}
        if done:
            o.update({"done_reason": done_reason, "total_duration": 1000, "load_duration": 10,
                      "prompt_eval_count": prompt_tokens, "prompt_eval_duration": 100, "eval_count": n,
                      "eval_duration": 500})
        return o

    if body.get("stream", True) is False:
        msg: dict[str, Any] = {"content": "" if calls else "".join(ws[:n])}
        if think:
            msg["thinking"] = thought
        if calls:
            msg["tool_calls"] = calls
        return json_response(obj(msg, True), 200, headers)
    lines: list[dict[str, Any]] = []
    if think:
        lines.extend(obj({"content": "", "thinking": w}, False) for w in words(thought))
    if calls:
        lines.append(obj({"content": "", "tool_calls": calls}, False))
    else:
        lines.extend(obj({"content": w}, False) for w in ws[:n])
    lines.append(obj({"content": ""}, True))
    frames = [orjson.dumps(line) + b"\n" for line in lines]
    return SSEBody(_play(frames, fault, "ollama"), state, headers, "application/x-ndjson")


def ollama_embed(body: dict[str, Any], headers: dict[str, str]) -> Response:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if not body.get("model"):
        return json_response({"error": "model is required"}, 400, headers)
    if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
        return json_response({"error": "invalid input type"}, 400, headers)
    return json_response({"model": body["model"], "embeddings": [vector(t) for t in texts], "total_duration": 100,
                          "load_duration": 10, "prompt_eval_count": sum(len(t.split()) for t in texts)}, 200, headers)


async def _play(frames: list[bytes], fault: Fault | None, flavor: str) -> AsyncIterator[bytes]:
    for i, frame in enumerate(frames):
        if fault is not None and fault.name == "error-mid" and i == 2:
            yield (orjson.dumps({"error": "an error was encountered while running the model"}) + b"\n"
                   if flavor == "ollama" else errors.stream_error(flavor))
            return
        special = await mid_stream_fault(fault, i)
        if special is not None:
            if special is DROP:
                yield DROP
                return
            if not (flavor == "ollama" and special.startswith(b":")):  # NDJSON has no comments
                yield special
        yield frame
