"""Ollama's native API: ``/api/chat`` streaming newline-delimited JSON, and ``/api/embed``.

Wire (the official ``ollama`` client 0.6.3, ``_client.py`` / ``_types.py``;
https://github.com/ollama/ollama/blob/main/docs/api.md):

* ``POST {base}/api/chat`` with ``{model, messages, stream, tools, options, think, format}``.
  Streamed, the body is one JSON object per line (``application/x-ndjson``): ``message``
  deltas (``content``, ``thinking``, whole ``tool_calls``) with ``done: false``, then a last line
  with ``done: true``, ``done_reason`` and the counts ``prompt_eval_count`` / ``eval_count``.
* Messages: images as bare base64 strings in ``images`` (no URLs); tool calls carry
  ``arguments`` as an object; a tool result is ``{role: tool, content, tool_name}``.
* Options (``temperature``, ``top_p``, ``top_k``, ``seed``, ``stop``; ``max_tokens`` →
  ``num_predict``) go in ``options``; ``think=True`` asks a reasoning model for ``thinking``.
* Errors: ``{"error": "..."}`` with the HTTP status, or as a line inside a stream.
* ``POST {base}/api/embed`` with ``{model, input: [...]}`` → ``{embeddings: [[...]]}``.

Local by default (``http://127.0.0.1:11434/``, no key); a key, when given, goes as Bearer
(Ollama's hosted API).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

import orjson

from .._exceptions import ConfigError, ProtocolError
from .._http import HTTPSettings, stream_sse
from ..streaming.sse import SSEEvent
from ._toolcalls import call_arguments
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["OllamaChat", "OllamaEmbedding"]

BASE = "http://127.0.0.1:11434/"
OPTIONS = {"temperature": "temperature", "top_p": "top_p", "top_k": "top_k", "seed": "seed", "stop": "stop",
           "max_tokens": "num_predict", "max_completion_tokens": "num_predict", "num_ctx": "num_ctx",
           "presence_penalty": "presence_penalty", "frequency_penalty": "frequency_penalty"}
TOP_LEVEL = ("think", "format", "keep_alive", "options")


def _split(content: Any) -> tuple[str, list[str]]:
    """(text, bare base64 images) of an OpenAI message content."""
    if not isinstance(content, list):
        return ("" if content is None else str(content)), []
    text, images = [], []
    for p in content:
        if p.get("type") == "text":
            text.append(p.get("text", ""))
        elif p.get("type") == "image_url":
            iu = p.get("image_url")
            url = iu["url"] if isinstance(iu, dict) else str(iu)
            images.append(url.partition(",")[2] if url.startswith("data:") else url)
    return "".join(text), images


def to_ollama_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for m in messages:
        role = m.get("role")
        text, images = _split(m.get("content"))
        msg: dict[str, Any] = {"role": role, "content": text}
        if images:
            msg["images"] = images
        if role == "assistant" and m.get("tool_calls"):
            calls = []
            for tc in m["tool_calls"]:
                name, parsed = call_arguments(tc)
                names[tc.get("id", "")] = name or ""
                calls.append({"function": {"name": name, "arguments": parsed}})
            msg["tool_calls"] = calls
            if not text:
                del msg["content"]  # as the official client leaves an empty content out
        if role == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id", ""))
            if name:
                msg["tool_name"] = name
        out.append(msg)
    return out


class _Converter:
    """Ollama chat objects (a whole answer or one stream line) → OpenAI message / delta."""

    __slots__ = ("calls",)

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, data: dict[str, Any], *, stream: bool) -> dict[str, Any]:
        if "error" in data:
            return {"error": {"message": data["error"]}}
        m = data.get("message") or {}
        msg: dict[str, Any] = {"role": "assistant", "content": m.get("content") or ""}
        if m.get("thinking"):
            msg["reasoning_content"] = m["thinking"]
        if m.get("tool_calls"):
            calls = []
            for tc in m["tool_calls"]:
                fn = tc.get("function") or {}
                calls.append({"index": self.calls, "id": tc.get("id") or f"call_{self.calls}", "type": "function",
                              "function": {"name": fn.get("name"),
                                           "arguments": orjson.dumps(fn.get("arguments") or {}).decode()}})
                self.calls += 1
            msg["tool_calls"] = calls
        finish = None
        if data.get("done"):
            reason = data.get("done_reason") or "stop"
            finish = "tool_calls" if self.calls and reason == "stop" else reason
        out: dict[str, Any] = {"choices": [{"index": 0, ("delta" if stream else "message"): msg,
                                            "finish_reason": finish}]}
        if data.get("done") and "prompt_eval_count" in data:
            out["usage"] = {"prompt_tokens": int(data["prompt_eval_count"]),
                            "completion_tokens": int(data.get("eval_count") or 0)}
        return out


class OllamaChat(OnlineChatModuleBase, source="ollama"):
    default_base_url = BASE
    default_model = None
    chat_path = "api/chat"
    key_required: ClassVar[bool] = False
    stream_usage = False
    accepts_image_urls = False
    structured_output = "json_schema"  # becomes format: <schema>

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        merged = {**self._static_params, **params}
        merged.pop("stream_options", None)
        body: dict[str, Any] = {"model": model, "messages": to_ollama_messages(messages), "stream": stream}
        if tools:
            body["tools"] = tools
        options: dict[str, Any] = dict(merged.pop("options", None) or {})
        for ours, theirs in OPTIONS.items():
            if ours in merged:
                options[theirs] = merged.pop(ours)
        if options:
            body["options"] = options
        if rf := merged.pop("response_format", None):
            # format: "json", or a JSON schema the answer must match (Ollama's structured outputs)
            schema = (rf.get("json_schema") or {}).get("schema") if rf.get("type") == "json_schema" else None
            body["format"] = schema or "json"
        merged.pop("tool_choice", None)  # Ollama has no tool_choice: the model decides
        body.update(merged)
        return body

    def _open_stream(self, url: str, body: dict[str, Any], headers: dict[str, str], settings: HTTPSettings,
                     model: str) -> Any:
        return stream_sse("POST", url, json=body, headers=headers, settings=settings, provider=self.source,
                          model=model, ndjson=True)

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProtocolError(f"ollama answered with a non-object: {str(body)[:200]!r}", provider="ollama")
        if "error" in body:
            raise self._body_error({"error": {"message": body["error"]}})
        return _Converter()(body, stream=False)

    def _frame_converter(self) -> Callable[[SSEEvent], dict[str, Any] | None]:
        convert = _Converter()
        parse = super()._convert_frame  # JSON object, or a typed ProtocolError

        def frame(event: SSEEvent) -> dict[str, Any] | None:
            data = parse(event)
            return convert(data, stream=True) if data is not None else None
        return frame

    async def _resolve_model(self) -> str:
        if self._model_name:
            return self._model_name
        raise ConfigError("Ollama needs model=... (e.g. 'llama3.2'): the name you pulled with `ollama pull`")


class OllamaEmbedding(OnlineEmbeddingModuleBase, source="ollama"):
    default_url = BASE + "api/embed"
    default_model = None
    url_suffix = "api/embed"
    key_required: ClassVar[bool] = False

    def _build_body(self, texts: list[Any], model: str | None, params: dict[str, Any]) -> dict[str, Any]:
        return {"model": model, "input": texts, **self._static_params, **params}

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        vecs = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(vecs, list) or len(vecs) != n:
            raise ProtocolError(f"ollama sent {len(vecs) if isinstance(vecs, list) else 'no'} embeddings for {n} "
                                "inputs", provider="ollama", model=self._model_name)
        return vecs
