"""Chat routes: OpenAI chat completions (and its MiniMax/GLM/... variants), Anthropic Messages,
DashScope native text generation. Replies are deterministic: ``fake reply to: <last user text>``.

Streaming follows each provider's documented frames: OpenAI ``chat.completion.chunk`` objects
then ``data: [DONE]`` (usage chunk with ``choices: []`` when ``stream_options.include_usage``;
tool-call deltas split by ``index``; ``reasoning_content`` deltas for ``*reasoner*`` models);
Anthropic ``message_start`` … ``message_stop`` named events; DashScope ``event:result`` frames.
"""

from __future__ import annotations

import gzip
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import anyio
import orjson
from starlette.requests import Request
from starlette.responses import Response

from asyncllm.streaming.sse import encode_sse

from . import dialects, errors, rules, structured
from .state import FakeState, Fault
from .wire import DROP, STALL_FOREVER, SSEBody, json_response

WORD = re.compile(r"\S+\s*")


def text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # multimodal parts: keep the text, count the rest
        texts = [p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text"]
        others = sum(1 for p in content if isinstance(p, dict) and p.get("type") != "text")
        return " ".join(texts) + (f" [+{others} media]" if others else "")
    return ""


def last_user(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            return text_of(m.get("content"))
    return ""


def reply_for(messages: list[dict[str, Any]]) -> str:
    last = messages[-1] if messages else {}
    if last.get("role") == "tool":
        return "fake reply to tool results: " + "; ".join(
            text_of(m.get("content")) for m in messages if m.get("role") == "tool")
    return "fake reply to: " + last_user(messages)


def words(text: str) -> list[str]:
    return WORD.findall(text) or [text]


def count_tokens(messages: list[dict[str, Any]]) -> int:
    return sum(len(words(text_of(m.get("content")))) for m in messages)


def finish_reason(fault: Fault | None, n_words: int, max_tokens: int | None) -> tuple[str, int]:
    """(finish reason, how many reply words to send)."""
    if fault is not None and fault.name in ("length", "content_filter"):
        return fault.name, max(1, n_words // 2)
    if max_tokens is not None and n_words > max_tokens:
        return "length", max_tokens
    return "stop", n_words


async def mid_stream_fault(fault: Fault | None, i: int) -> bytes | None:
    """What a fault does before frame ``i`` (after 2 frames: drop / malformed; after 3: stall)."""
    if fault is None:
        return None
    if fault.name == "drop" and i == 2:
        return DROP
    if fault.name == "malformed" and i == 2:
        return b"data: {\"id\": \"broken\", \"choices\": [\n\n"
    if fault.name == "stall-mid" and i == 3:
        await anyio.sleep(fault.seconds(STALL_FOREVER))
    if fault.name == "keepalive":
        return b": keep-alive\n\n"
    return None


# ------------------------------------------------------------------------------ OpenAI


def tool_calls_for(body: dict[str, Any], messages: list[dict[str, Any]], broken: bool = False
                   ) -> list[dict[str, Any]]:
    tools = body.get("tools") or []
    if not tools or body.get("tool_choice") == "none" or (messages and messages[-1].get("role") == "tool"):
        return []
    if (forced := structured.forced_tool(body)) is not None:  # arguments that match the tool's schema
        tool = next((t["function"] for t in tools if t.get("function", {}).get("name") == forced), {})
        return [{"id": "call_0", "type": "function", "function": {
            "name": forced, "arguments": structured.answer(tool.get("parameters", {}), broken)}}]
    q = last_user(messages)
    return [{"id": f"call_{i}", "type": "function",
             "function": {"name": t.get("function", {}).get("name", f"tool{i}"),
                          "arguments": orjson.dumps({"query": q, "n": i}).decode()}}
            for i, t in enumerate(tools)]


async def openai_chat(request: Request, body: dict[str, Any], fault: Fault | None, state: FakeState,
                      headers: dict[str, str], flavor: str) -> Response:
    refused = rules.check_openai_request(flavor, body)
    if refused is not None:
        return json_response(refused[1], refused[0], headers)
    model = body.get("model", "")
    messages = body.get("messages") or []
    broken = fault is not None and fault.name == "bad-json"
    text = reply_for(messages)
    if (schema := structured.schema_asked(body, last_user(messages))) is not None:
        text = structured.answer(schema, broken)
    ws = words(text)
    reason, n = finish_reason(fault, len(ws), body.get("max_tokens") or body.get("max_completion_tokens"))
    calls = tool_calls_for(body, messages, broken)
    if calls:
        reason = "tool_calls"
    reasoning = f"thinking about: {last_user(messages)}" if "reasoner" in model else None
    think_inline = reasoning is not None and dialects.thinks_in_content(flavor, body)
    prompt_tokens = count_tokens(messages)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": n, "total_tokens": prompt_tokens + n,
             "prompt_tokens_details": {"cached_tokens": 0}}
    cid, created = "chatcmpl-" + headers["x-request-id"], int(time.time())
    extra: dict[str, Any] = {"base_resp": {"status_code": 0, "status_msg": "success"}} if flavor == "minimax" else {}
    if dialects.sensenova_extras(flavor):
        extra["request_id"] = headers["x-request-id"]
        usage["prompt_tokens_details"]["audio_tokens"] = 0

    if not body.get("stream"):
        answer = "".join(ws[:n])
        if think_inline:
            answer = f"<think>{reasoning}</think>\n\n{answer}"
        msg: dict[str, Any] = {"role": "assistant", "content": None if calls else answer}
        if calls:
            msg["tool_calls"] = calls
        if reasoning and not think_inline:
            msg.update(dialects.reasoning_parts(flavor, body, reasoning))
        out = {"id": cid, "object": "chat.completion", "created": created, "model": model,
               "choices": [{"index": 0, "message": msg, "logprobs": None, "finish_reason": reason}],
               "usage": usage, **extra}
        if fault is not None and fault.name in ("stall-mid", "drop"):
            return SSEBody(_slow_json(out, fault), state, headers, "application/json")
        if fault is not None and fault.name == "gzip":
            return Response(gzip.compress(orjson.dumps(out)), 200, {**headers, "content-encoding": "gzip"},
                            media_type="application/json")
        return json_response(out, 200, headers)

    usage_in_choice = dialects.usage_in_choice(flavor)
    usage_on_last = dialects.usage_in_last_chunk(flavor)
    x_groq = dialects.usage_in_x_groq(flavor)
    include_usage = not (usage_in_choice or usage_on_last or x_groq) and (dialects.usage_event_always(flavor) or bool(
        (body.get("stream_options") or {}).get("include_usage")))
    not_yet = dialects.unfinished(flavor)

    def chunk(delta: dict[str, Any], fin: str | None = None) -> bytes:
        choice: dict[str, Any] = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": fin or not_yet}
        if fin and usage_in_choice:
            choice["usage"] = usage
        c = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [choice], **extra}
        if include_usage:
            c["usage"] = None
        if fin and usage_on_last:
            c["usage"] = usage
        if fin and x_groq:
            c["x_groq"] = {"id": "req_" + cid, "usage": usage}
        return encode_sse(orjson.dumps(c))

    out: list[bytes] = [chunk({"role": "assistant", "content": ""})]
    if (comment := dialects.keepalive_comment(flavor)) is not None:
        out.insert(0, comment)
    if reasoning:
        thoughts = words(reasoning)
        if think_inline:
            out.append(chunk({"content": "<think>"}))
            out.extend(chunk({"content": w}) for w in thoughts)
            out.append(chunk({"content": "</think>\n\n"}))
        else:
            out.extend(chunk(dialects.reasoning_parts(flavor, body, w)) for w in thoughts)
    for i, c in enumerate(calls):  # first delta: id + name; then argument fragments by index
        out.append(chunk({"tool_calls": [{"index": i, "id": c["id"], "type": "function",
                                          "function": {"name": c["function"]["name"], "arguments": ""}}]}))
        args = c["function"]["arguments"]
        for j in range(0, len(args), 7):
            out.append(chunk({"tool_calls": [{"index": i, "function": {"arguments": args[j:j + 7]}}]}))
    if not calls:
        out.extend(chunk({"content": w}) for w in ws[:n])
    out.append(chunk({}, reason))
    if include_usage:
        u = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
             "choices": [], "usage": usage, **extra}
        out.append(encode_sse(orjson.dumps(u)))
    out.append(b"data: [DONE]\n\n")
    return SSEBody(play(out, fault, flavor), state, headers)


async def play(frames: list[bytes], fault: Fault | None, flavor: str) -> AsyncIterator[bytes]:
    """Send ``frames`` with the fault's mid-stream behaviour applied."""
    for i, frame in enumerate(frames):
        if fault is not None and fault.name == "error-mid" and i == 2:
            yield errors.stream_error(flavor)  # the provider reports the failure in the stream and stops
            return
        special = await mid_stream_fault(fault, i)
        if special is not None:
            yield special
            if special is DROP:
                return
        yield frame


async def _slow_json(out: Any, fault: Fault) -> AsyncIterator[bytes]:
    """A non-streamed body that stalls (``stall-mid``) or drops (``drop``) half-way."""
    raw = orjson.dumps(out)
    yield raw[: len(raw) // 2]
    if fault.name == "drop":
        yield DROP
        return
    await anyio.sleep(fault.seconds(STALL_FOREVER))
    yield raw[len(raw) // 2:]


# ------------------------------------------------------------------------------ Anthropic


async def anthropic_messages(request: Request, body: dict[str, Any], fault: Fault | None, state: FakeState,
                             headers: dict[str, str]) -> Response:
    model = body.get("model", "")
    if not isinstance(body.get("max_tokens"), int):
        return json_response({"type": "error", "error": {"type": "invalid_request_error",
                                                         "message": "max_tokens: Field required"}}, 400, headers)
    refused = rules.check_anthropic_request(body)
    if refused is not None:
        return json_response(refused[1], refused[0], headers)
    messages = body.get("messages") or []
    last = messages[-1] if messages else {}
    answering_tools = last.get("role") == "user" and isinstance(last.get("content"), list) and any(
        p.get("type") == "tool_result" for p in last["content"])
    if answering_tools:
        text = "fake reply to tool results: " + "; ".join(
            text_of(p.get("content")) for p in last["content"] if p.get("type") == "tool_result")
    else:
        text = "fake reply to: " + last_user(messages)
    ws = words(text)
    reason, n = finish_reason(fault, len(ws), body["max_tokens"])
    stop = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal"}[reason]
    tools = [] if answering_tools else body.get("tools") or []
    thinking = rules.thinking_enabled(body, model)
    think_text = f"thinking about: {last_user(messages)}"
    in_tok = count_tokens(messages)
    mid = "msg_" + headers["x-request-id"]
    blocks: list[dict[str, Any]] = []
    if thinking:
        blocks.append({"type": "thinking", "thinking": think_text, "signature": rules.signature(think_text)})
    if tools and (forced := structured.forced_tool(body)) is not None:
        stop = "tool_use"
        tool = next((t for t in tools if t.get("name") == forced), {})
        broken = fault is not None and fault.name == "bad-json"
        blocks.append({"type": "tool_use", "id": "toolu_0", "name": forced,
                       "input": {"bad": True} if broken else structured.instance_of(tool.get("input_schema", {}))})
    elif tools:
        stop = "tool_use"
        for i, t in enumerate(tools):
            blocks.append({"type": "tool_use", "id": f"toolu_{i}", "name": t.get("name"),
                           "input": {"query": last_user(messages), "n": i}})
    else:
        blocks.append({"type": "text", "text": "".join(ws[:n])})
    usage = {"input_tokens": in_tok, "output_tokens": n}
    if not body.get("stream"):
        return json_response({"id": mid, "type": "message", "role": "assistant", "model": model,
                              "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage},
                             200, headers)

    def ev(name: str, data: dict[str, Any]) -> bytes:
        return encode_sse(orjson.dumps({"type": name, **data}), event=name)

    async def frames() -> AsyncIterator[bytes]:
        out = [ev("message_start", {"message": {"id": mid, "type": "message", "role": "assistant", "model": model,
                                                "content": [], "stop_reason": None, "stop_sequence": None,
                                                "usage": {"input_tokens": in_tok, "output_tokens": 1}}}),
               ev("ping", {})]
        for idx, b in enumerate(blocks):
            if b["type"] == "thinking":
                out.append(ev("content_block_start", {"index": idx, "content_block": {"type": "thinking",
                                                                                     "thinking": ""}}))
                out.extend(ev("content_block_delta", {"index": idx, "delta": {"type": "thinking_delta",
                                                                              "thinking": w}})
                           for w in words(think_text))
                out.append(ev("content_block_delta", {"index": idx, "delta": {"type": "signature_delta",
                                                                              "signature": b["signature"]}}))
            elif b["type"] == "tool_use":
                out.append(ev("content_block_start", {"index": idx, "content_block": {
                    "type": "tool_use", "id": b["id"], "name": b["name"], "input": {}}}))
                js = orjson.dumps(b["input"]).decode()
                out.extend(ev("content_block_delta", {"index": idx, "delta": {"type": "input_json_delta",
                                                                              "partial_json": js[j:j + 7]}})
                           for j in range(0, len(js), 7))
            else:
                out.append(ev("content_block_start", {"index": idx, "content_block": {"type": "text", "text": ""}}))
                out.extend(ev("content_block_delta", {"index": idx, "delta": {"type": "text_delta", "text": w}})
                           for w in ws[:n])
            out.append(ev("content_block_stop", {"index": idx}))
        out.append(ev("message_delta", {"delta": {"stop_reason": stop, "stop_sequence": None},
                                        "usage": {"output_tokens": n}}))
        out.append(ev("message_stop", {}))
        for frame in out:
            yield frame

    return SSEBody(play([f async for f in frames()], fault, "anthropic"), state, headers)


# ------------------------------------------------------------------------------ DashScope native


async def dashscope_generation(request: Request, body: dict[str, Any], fault: Fault | None, state: FakeState,
                               headers: dict[str, str]) -> Response:
    inp = body.get("input") or {}
    params = body.get("parameters") or {}
    messages = inp.get("messages") or [{"role": "user", "content": inp.get("prompt", "")}]
    ws = words(reply_for(messages))
    reason, n = finish_reason(fault, len(ws), params.get("max_tokens"))
    in_tok = count_tokens(messages)
    rid = headers["x-request-id"]
    as_message = params.get("result_format") == "message"

    def output(text: str, fin: str) -> dict[str, Any]:
        if as_message:
            return {"choices": [{"finish_reason": fin, "message": {"role": "assistant", "content": text}}]}
        return {"text": text, "finish_reason": fin}

    streaming = (request.headers.get("x-dashscope-sse") == "enable"
                 or "text/event-stream" in request.headers.get("accept", ""))
    if not streaming:
        return json_response({"output": output("".join(ws[:n]), reason), "request_id": rid,
                              "usage": {"input_tokens": in_tok, "output_tokens": n, "total_tokens": in_tok + n}},
                             200, headers)
    incremental = bool(params.get("incremental_output"))

    async def frames() -> AsyncIterator[bytes]:
        for i in range(1, n + 1):
            special = await mid_stream_fault(fault, i - 1)
            if special is not None:
                yield special
                if special is DROP:
                    return
            piece = ws[i - 1] if incremental else "".join(ws[:i])
            fin = reason if i == n else "null"
            data = {"output": output(piece, fin), "request_id": rid,
                    "usage": {"input_tokens": in_tok, "output_tokens": i, "total_tokens": in_tok + i}}
            yield f"id:{i}\nevent:result\n:HTTP_STATUS/200\ndata:".encode() + orjson.dumps(data) + b"\n\n"

    return SSEBody(frames(), state, headers)
