"""Google Gemini (the Gemini API's native ``generateContent``), converted both ways to the OpenAI
shapes the base speaks.

Wire (google-genai 3.3.0, ``models.py`` / ``_api_client.py``; https://ai.google.dev/api):

* ``POST {base}/models/{model}:generateContent``; streamed: ``:streamGenerateContent?alt=sse``,
  SSE events each holding a whole ``GenerateContentResponse`` chunk, no ``[DONE]``. The base is
  ``https://generativelanguage.googleapis.com/v1/`` (the SDK's default version). Key:
  ``x-goog-api-key`` (``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``, the SDK's variables).
* Request: ``contents`` of ``user`` / ``model`` turns made of ``parts`` (``text``,
  ``inlineData``, ``fileData``, ``functionCall``, ``functionResponse``); system messages →
  ``systemInstruction``; tools → ``functionDeclarations`` (their JSON Schema as
  ``parametersJsonSchema``); ``tool_choice`` → ``toolConfig.functionCallingConfig.mode``;
  sampling options → ``generationConfig`` (``max_tokens`` → ``maxOutputTokens``, ``stop`` →
  ``stopSequences``, ...). Reasoning is asked for with ``include_thoughts=True`` (and
  ``thinking_budget=`` / ``thinking_level=``), which become ``generationConfig.thinkingConfig``.
* Answer: parts with ``thought: true`` → reasoning; ``functionCall`` → tool calls (arguments
  as an object); ``finishReason`` ``STOP`` / ``MAX_TOKENS`` / ``SAFETY``... → OpenAI's finish
  reasons; ``promptFeedback.blockReason`` (the prompt itself refused) → ContentFilteredError;
  ``usageMetadata`` ``promptTokenCount`` / ``candidatesTokenCount`` (+ ``thoughtsTokenCount``).
* Errors: ``{"error": {"code", "message", "status", "details"}}``; a bad key is HTTP 400 with
  reason ``API_KEY_INVALID`` → AuthenticationError (:func:`gemini_error_rule`), so a key pool
  moves on to its next key.
* Embeddings: ``POST {base}/models/{model}:batchEmbedContents`` with ``requests[]`` of
  ``{model, content: {parts: [{text}]}}`` → ``embeddings[].values`` (what the SDK's
  ``embed_content`` sends).

Thought signatures (https://ai.google.dev/gemini-api/docs/thought-signatures; Vertex's
https://docs.cloud.google.com/vertex-ai/generative-ai/docs/thought-signatures):

* What comes: a part's ``thoughtSignature``, an opaque string (google-genai 3.3.0 ``types.py``:
  ``Part.thought_signature``, bytes, base64 in JSON: ``_common.py``'s ``ser_json_bytes``), a
  sibling of ``functionCall`` / ``text`` in the part. Gemini 3 signs every answer that calls a
  function: one call, or the first ``functionCall`` part of parallel calls (the others carry
  none); each step of a sequential tool loop is an answer with its own signed first call.
  Answers without calls sign their last part.
* What is enforced: Gemini 3 validates the current turn only (the model turns after the latest
  user turn that holds text rather than function responses): the first ``functionCall`` part of
  each of its steps must come back with its signature, on that very part, else HTTP 400
  INVALID_ARGUMENT "Function call is missing a thought_signature in functionCall parts..."
  (the message as the API words it: Google AI forum thread 109823, sipeed/picoclaw#79). Earlier
  turns and text-part signatures are only recommended; Gemini 2.5 enforces none of it.
* Streamed, a signature may come in a later chunk than its call, on a part with empty text
  (modfin/bellman#35 reports it, after Google's streaming note): it goes onto the answer's
  first call when that call came unsigned.
* Carried here as Google's own OpenAI-compatible layer carries it: ``extra_content: {"google":
  {"thought_signature": ...}}`` on the OpenAI-shaped tool call (the shape the Gemini OpenAI
  endpoint returns and takes back; continuedev/continue#8865, crmne/ruby_llm#588). The stream's
  merge keeps it (``_toolcalls.py``), ``FunctionCallFormatter`` keeps it, so the assistant
  message of the usual tool loop, appended to the history, brings it back here, where
  :func:`to_gemini_contents` puts it on its ``functionCall`` part. Gemini declares it in
  ``message_extras``; a request to a provider that does not declare it leaves it off
  (online/_message_fields.py).

Not carried: the signature of an answer without function calls (on its last text part; the
docs recommend sending it back, nothing enforces it).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .._config import Secret
from .._exceptions import APIError, AuthenticationError, ContentFilteredError, ProtocolError
from .._http import HTTPSettings, stream_sse
from .._provider_errors import register_error_rule
from ..streaming.sse import SSEEvent
from ._keys import Auth, RedactedHeaders, StaticAuth
from ._media import text_of as _text
from ._toolcalls import call_arguments
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase

__all__ = ["GeminiChat", "GeminiEmbedding", "gemini_error_rule"]

BASE = "https://generativelanguage.googleapis.com/v1/"
FINISH = {"STOP": "stop", "MAX_TOKENS": "length", "SAFETY": "content_filter", "RECITATION": "content_filter",
          "BLOCKLIST": "content_filter", "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter",
          "IMAGE_SAFETY": "content_filter", "MALFORMED_FUNCTION_CALL": "malformed_function_call"}
# OpenAI-style option → generationConfig field
GENERATION = {"temperature": "temperature", "top_p": "topP", "top_k": "topK", "max_tokens": "maxOutputTokens",
              "max_completion_tokens": "maxOutputTokens", "n": "candidateCount", "seed": "seed",
              "presence_penalty": "presencePenalty", "frequency_penalty": "frequencyPenalty"}
THINKING = {"include_thoughts": "includeThoughts", "thinking_budget": "thinkingBudget",
            "thinking_level": "thinkingLevel"}


def gemini_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    err = body.get("error") if isinstance(body, dict) else None
    details = err.get("details") if isinstance(err, dict) else None
    if isinstance(details, list) and any(isinstance(d, dict) and d.get("reason") == "API_KEY_INVALID"
                                         for d in details):
        return AuthenticationError
    return None


register_error_rule("gemini", gemini_error_rule)


def _goog_auth(key: Secret | None) -> Auth:
    h = RedactedHeaders()
    if key:
        h["x-goog-api-key"] = key.get()
    return StaticAuth(h)


def _user_parts(content: Any) -> list[dict[str, Any]]:
    if not isinstance(content, list):
        return [{"text": _text(content)}]
    parts: list[dict[str, Any]] = []
    for p in content:
        kind = p.get("type")
        if kind == "text":
            parts.append({"text": p.get("text", "")})
        elif kind == "image_url":
            iu = p.get("image_url")
            url = iu["url"] if isinstance(iu, dict) else str(iu)
            if url.startswith("data:"):
                head, _, data = url.partition(",")
                parts.append({"inlineData": {"mimeType": head[5:].split(";")[0] or "image/png", "data": data}})
            else:
                parts.append({"fileData": {"fileUri": url, "mimeType": "image/jpeg"}})
        else:
            parts.append(p)  # already a Gemini part
    return parts


def signature_of(call: dict[str, Any]) -> str | None:
    """The thought signature an OpenAI-shaped tool call carries (Google's OpenAI-compatible
    ``extra_content.google.thought_signature``), or None."""
    extra = call.get("extra_content")
    google = extra.get("google") if isinstance(extra, dict) else None
    sig = google.get("thought_signature") if isinstance(google, dict) else None
    return sig if isinstance(sig, str) and sig else None


def _signed(sig: str) -> dict[str, Any]:
    return {"google": {"thought_signature": sig}}


def to_gemini_contents(messages: list[dict[str, Any]]) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(systemInstruction, contents) from OpenAI-style messages. Tool results become
    ``functionResponse`` parts of a user turn, named after the call they answer."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    names: dict[str, str] = {}  # tool_call_id → function name
    for m in messages:
        role = m.get("role")
        if role in ("system", "developer"):
            system.append(_text(m.get("content")))
        elif role == "assistant":
            parts: list[dict[str, Any]] = []
            if text := _text(m.get("content")):
                parts.append({"text": text})
            for tc in m.get("tool_calls") or []:
                name, parsed = call_arguments(tc)
                names[tc.get("id", "")] = name or ""
                part: dict[str, Any] = {"functionCall": {"name": name, "args": parsed}}
                if sig := signature_of(tc):  # back on the very part it came on (see the docstring)
                    part["thoughtSignature"] = sig
                parts.append(part)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif role == "tool":
            name = m.get("name") or names.get(m.get("tool_call_id", ""), "")
            part = {"functionResponse": {"name": name, "response": {"result": _text(m.get("content"))}}}
            last = contents[-1] if contents else None
            if last and last["role"] == "user" and all("functionResponse" in p for p in last["parts"]):
                last["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        else:
            contents.append({"role": "user", "parts": _user_parts(m.get("content"))})
    instruction = {"parts": [{"text": "\n".join(s for s in system if s)}]} if any(system) else None
    return instruction, contents


def to_gemini_tools(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    decls = []
    for t in tools:
        fn = t.get("function", t)
        decl = {"name": fn.get("name"), "description": fn.get("description", "")}
        if fn.get("parameters"):
            # a JSON Schema, as OpenAI tools carry it: `parametersJsonSchema` takes it whole (the
            # SDK's parameters_json_schema); `parameters` wants Google's OpenAPI subset
            decl["parametersJsonSchema"] = fn["parameters"]
        decls.append(decl)
    return [{"functionDeclarations": decls}]


def _usage(meta: Any) -> dict[str, int] | None:
    if not isinstance(meta, dict) or "promptTokenCount" not in meta:
        return None
    out = int(meta.get("candidatesTokenCount") or 0) + int(meta.get("thoughtsTokenCount") or 0)
    return {"prompt_tokens": int(meta["promptTokenCount"]), "completion_tokens": out}


class _Converter:
    """One ``GenerateContentResponse`` (whole or a stream chunk) → an OpenAI message / delta."""

    __slots__ = ("calls", "first_unsigned")

    def __init__(self) -> None:
        self.calls = 0  # tool calls seen so far in this answer: the next one's index
        # the answer's first call (index 0) came without a signature: one arriving later on
        # another part (a stream's closing empty-text part) is its signature
        self.first_unsigned = False

    def __call__(self, body: dict[str, Any], *, stream: bool) -> dict[str, Any]:
        if "error" in body:
            return body  # the base raises it, typed by the error rule
        candidates = body.get("candidates") or []
        usage = _usage(body.get("usageMetadata"))
        if not candidates:
            block = (body.get("promptFeedback") or {}).get("blockReason")
            if block:
                raise ContentFilteredError(f"gemini refused the prompt: blockReason {block}", provider="gemini",
                                           finish_reason="content_filter", partial="")
            return {"choices": [], "usage": usage} if usage else {"choices": []}
        cand = candidates[0]
        text: list[str] = []
        thoughts: list[str] = []
        calls: list[dict[str, Any]] = []
        for part in (cand.get("content") or {}).get("parts") or []:
            sig = part.get("thoughtSignature")
            if "functionCall" in part:
                fc = part["functionCall"]
                call = {"index": self.calls, "id": fc.get("id") or f"call_{self.calls}", "type": "function",
                        "function": {"name": fc.get("name"), "arguments": orjson.dumps(fc.get("args") or {}).decode()}}
                if sig:
                    call["extra_content"] = _signed(sig)
                elif not self.calls:
                    self.first_unsigned = True
                calls.append(call)
                self.calls += 1
                continue
            if "text" in part:
                (thoughts if part.get("thought") else text).append(part["text"])
            if sig and self.first_unsigned:
                # the first call's signature on a later part: onto that call, in this body's
                # message or as a tool-call piece the stream's merge adds to it by index
                if calls and calls[0]["index"] == 0:
                    calls[0]["extra_content"] = _signed(sig)
                else:
                    calls.append({"index": 0, "extra_content": _signed(sig)})
                self.first_unsigned = False
        msg: dict[str, Any] = {"role": "assistant", "content": "".join(text)}
        if thoughts:
            msg["reasoning_content"] = "".join(thoughts)
        if calls:
            msg["tool_calls"] = calls
        reason = cand.get("finishReason")
        finish = None
        if reason:
            finish = "tool_calls" if self.calls and reason == "STOP" else FINISH.get(reason, reason.lower())
        choice = {"index": 0, ("delta" if stream else "message"): msg, "finish_reason": finish}
        out: dict[str, Any] = {"choices": [choice]}
        if usage:
            out["usage"] = usage
        return out


class GeminiChat(OnlineChatModuleBase, source="gemini"):
    default_system_prompt = "You are a helpful, intelligent assistant developed by Google."
    default_base_url = BASE
    default_model = "gemini-2.5-flash"
    chat_path = "models"
    stream_usage = False
    vlm_model_prefixes = ("gemini",)
    structured_output = "json_schema"  # generationConfig.responseJsonSchema
    message_extras = ("extra_content",)  # a tool call's thought signature (see the module docstring)

    def _make_auth(self, key: Secret | None) -> Auth:
        return _goog_auth(key)

    def _chat_url(self, base_url: str) -> str:
        return self._model_url(base_url, self._model_name or self.default_model or "")

    def _request_url(self, model: str, base_url: str | None) -> str:
        return self._model_url(base_url or self._base_url, model)

    @staticmethod
    def _model_url(base: str, model: str) -> str:
        name = model if model.startswith(("models/", "tunedModels/")) else f"models/{model}"
        return f"{base.rstrip('/')}/{name}:generateContent"

    def _open_stream(self, url: str, body: dict[str, Any], headers: dict[str, str], settings: HTTPSettings,
                     model: str) -> Any:
        stream_url = url.replace(":generateContent", ":streamGenerateContent?alt=sse")
        return stream_sse("POST", stream_url, json=body, headers=headers, settings=settings, provider=self.source,
                          model=model)

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        instruction, contents = to_gemini_contents(messages)
        body: dict[str, Any] = {"contents": contents}
        if instruction:
            body["systemInstruction"] = instruction
        if tools:
            body["tools"] = to_gemini_tools(tools)
        merged = {**self._static_params, **params}
        merged.pop("stream_options", None)
        config: dict[str, Any] = dict(merged.pop("generationConfig", None) or {})
        for ours, theirs in GENERATION.items():
            if ours in merged:
                config[theirs] = merged.pop(ours)
        if "stop" in merged:
            stop = merged.pop("stop")
            config["stopSequences"] = [stop] if isinstance(stop, str) else stop
        if (rf := merged.pop("response_format", None)) and rf.get("type") in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
            if rf["type"] == "json_schema":  # the schema whole (google-genai: response_json_schema)
                config["responseJsonSchema"] = (rf.get("json_schema") or {}).get("schema")
        thinking = {theirs: merged.pop(ours) for ours, theirs in THINKING.items() if ours in merged}
        if thinking:
            config["thinkingConfig"] = {**config.get("thinkingConfig", {}), **thinking}
        if config:
            body["generationConfig"] = config
        if "tool_choice" in merged:
            choice = merged.pop("tool_choice")
            mode = {"auto": "AUTO", "none": "NONE", "required": "ANY"}.get(choice) if isinstance(choice, str) else None
            fc: dict[str, Any] = {"mode": mode or "ANY"}
            if isinstance(choice, dict) and choice.get("type") == "function":
                fc["allowedFunctionNames"] = [(choice.get("function") or {}).get("name")]
            body["toolConfig"] = {"functionCallingConfig": fc}
        body.update(merged)  # Gemini's own fields (safetySettings, cachedContent, ...) pass through
        return body

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ProtocolError(f"gemini answered with a non-object: {str(body)[:200]!r}", provider="gemini")
        out = _Converter()(body, stream=False)
        if not out["choices"]:
            if "error" in body:
                raise self._body_error(body)
            raise ProtocolError(f"gemini answered without candidates: {str(body)[:200]!r}", provider="gemini")
        return out

    def _frame_converter(self) -> Callable[[SSEEvent], dict[str, Any] | None]:
        return self._native_frames(_Converter())


class GeminiEmbedding(OnlineEmbeddingModuleBase, source="gemini"):
    default_url = BASE
    default_model = "gemini-embedding-001"

    def _make_auth(self, key: Secret | None) -> Auth:
        return _goog_auth(key)

    def _embed_url(self, url: str | None) -> str:
        return (url or self.default_url).lstrip("!")

    def _model_url(self, model: str | None, base: str | None = None) -> str:
        name = model or self.default_model or ""
        name = name if name.startswith("models/") else f"models/{name}"
        return f"{(base or self._url).rstrip('/')}/{name}:batchEmbedContents"

    def _build_body(self, texts: list[Any], model: str | None, params: dict[str, Any]) -> dict[str, Any]:
        name = model or self.default_model or ""
        name = name if name.startswith("models/") else f"models/{name}"
        extra = {**self._static_params, **params}
        return {"requests": [{"model": name, "content": {"parts": [{"text": t}], "role": "user"}, **extra}
                             for t in texts]}

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list) or len(items) != n:
            raise ProtocolError(f"gemini sent {len(items) if isinstance(items, list) else 'no'} embeddings for {n} "
                                "inputs", provider="gemini", model=self._model_name)
        return [it.get("values") for it in items]

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        data = await self._post(self._build_body(batch, model, params), self._model_url(model, url))
        return self._parse_response(data, len(batch))

