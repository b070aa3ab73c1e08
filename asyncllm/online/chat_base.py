"""``OnlineChatModuleBase``: one chat provider = a small subclass overriding a few hooks.

A provider registers with a class keyword and overrides what differs from the OpenAI wire::

    class MyVendorChat(OnlineChatModuleBase, source="myvendor"):
        default_base_url = "https://api.myvendor.example/v1/"
        default_model = "my-model"

Hooks (all optional; the defaults speak OpenAI chat completions):

* ``_chat_url(base_url)``          the request URL (``_request_url(model, base_url)`` per call)
* ``_open_stream(...)``            the event stream of a streamed call (SSE; NDJSON for Ollama)
* ``_make_auth(key)``              the headers carrying one key (Bearer by default); see ``_keys.py``
* ``_auth_headers()``              the headers of the next request (picks the key)
* ``_build_body(messages, model=, stream=, tools=, params=)``   the JSON body
* ``_image_part(ref)``             one image of a vision request
* ``_convert_response(body)``      a non-streamed body → OpenAI ``chat.completion`` dict
* ``_convert_frame(event)``        one SSE event → OpenAI ``chat.completion.chunk`` dict (or None)
* ``message_extras``               fields beyond OpenAI's the provider takes back next turn (on a
                                   message or a tool call); the body drops any other (``_message_fields.py``)
* fine-tuning: ``_upload_train_file``, ``_create_finetuning_job``, ``_query_finetuning_job``;
  deployment: ``_create_deployment``, ``_query_deployment`` (see ``_finetune.py``)

``api_key=`` takes one key, a list of keys (used round-robin; a key the provider rejects or
whose quota is gone is set aside and the call retried once on the next key), or ``"dynamic"``
(also ``dynamic_auth=True``: the key is read per call from ``al.config.override(...)`` / the
environment). See :mod:`asyncllm.online._keys`.

Network keywords (every provider, chat and embedding alike): the keys of
:class:`asyncllm.HTTPOptions`, taken as ``**http`` — ``timeout=``, ``connect_timeout=``,
``first_chunk_timeout=``, ``idle_timeout=``, ``max_retries=``, ``retry_backoff=``, ``proxy=``
(``"env"`` by default, ``None``, or a URL), ``verify=`` / ``cert=`` (TLS trust, client
certificate) and ``http_client=`` (an ``httpx.AsyncClient`` of the caller's); a misspelt
keyword is a ``TypeError`` naming the nearest valid one. The class attribute ``NO_PROXY = True``
makes a provider ignore the environment's proxy. See :class:`asyncllm.HTTPSettings`.

``forward`` is an async generator: text deltas are yielded as ``str``, reasoning deltas as
``Chunk(tag="think")``. ``await chat(x)`` returns the text, or — with a formatter set — the
formatter's output, carried by a last empty ``Chunk(tag="result")``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, aclosing
from typing import Any, ClassVar, Self, Unpack
from urllib.parse import urljoin

import orjson

from .. import _tracing
from .._context import record_usage
from .._exceptions import (
    APIError,
    ConfigError,
    ContentFilteredError,
    IncompleteOutputError,
    ProtocolError,
)
from .._http import HTTPOptions, HTTPSettings, SSEStream, http_settings, request_json, stream_sse
from .._provider_errors import error_for
from .._query import QUERY_PREFIX
from ..modules.base import ModuleBase
from ..prompts.base import EmptyPrompter, PrompterBase
from ..prompts.formatters import EmptyFormatter, FormatterBase
from ..prompts.llm import _UNSET, LLMBuilders
from ..streaming.channel import Chunk, streams_upstream
from ..streaming.sse import SSEEvent
from ._finetune import FineTuneMixin
from ._keys import KEY_ERRORS, ApiKey, KeyedProvider, RedactedHeaders, resolve_key
from ._media import ImageRef, split_query, to_image_refs
from ._message_fields import OPENAI_CALL_FIELDS, OPENAI_MESSAGE_FIELDS, wire_messages
from ._registry import register_chat
from ._structured import OutputSchema, raise_invalid, request_options
from ._toolcalls import ToolCallAccumulator, finish_calls

# RedactedHeaders and resolve_key live in _keys.py, http_settings in _http/options.py; re-exported for
# providers written against this file.
__all__ = ["OnlineChatModuleBase", "RedactedHeaders", "http_settings", "resolve_key"]

log = logging.getLogger("asyncllm.online")

_OK_FINISH = frozenset({"stop", "tool_calls", "function_call", "end_turn", "stop_sequence", "tool_use"})
_FILTERED = frozenset({"content_filter", "sensitive", "refusal"})


def usage_of(u: Any) -> dict[str, int] | None:
    """OpenAI ``prompt/completion_tokens`` or Anthropic/DashScope ``input/output_tokens``."""
    if not isinstance(u, dict):
        return None
    p = u.get("prompt_tokens", u.get("input_tokens"))
    c = u.get("completion_tokens", u.get("output_tokens"))
    if p is None and c is None:
        return None
    return {"prompt_tokens": int(p) if p is not None else -1, "completion_tokens": int(c) if c is not None else -1}


class OnlineChatModuleBase(KeyedProvider, FineTuneMixin, LLMBuilders, ModuleBase):
    """Base of every online chat provider (OpenAI chat-completions wire by default)."""

    default_base_url: ClassVar[str] = ""
    chat_path: ClassVar[str] = "chat/completions"
    #: send ``stream_options.include_usage`` so the last stream frame carries token usage
    stream_usage: ClassVar[bool] = True
    #: False for providers that only take images inline (base64)
    accepts_image_urls: ClassVar[bool] = True
    #: the provider answers some stream requests with an HTTP-200 JSON error instead of events
    errors_as_json_when_streaming: ClassVar[bool] = False
    vlm_model_prefixes: ClassVar[tuple[str, ...]] = ()
    #: fields beyond OpenAI's that this provider takes back in the next turn, on a message or on
    #: a tool call (Claude's signed ``thinking_blocks``, DeepSeek's ``reasoning_content``, Gemini's
    #: call ``extra_content``): copied from a non-streamed message, or taken from the stream
    #: converter's ``extras`` dict, and the only fields besides OpenAI's that a request body
    #: carries of a history (the one rule: ``_message_fields.py``). The default is the
    #: OpenAI-compatible servers' convention, ``reasoning_content``, which vLLM and the platforms
    #: hosting open reasoning models read back; a provider that refuses it (Mistral, Groq) says so
    message_extras: ClassVar[tuple[str, ...]] = ("reasoning_content",)
    # OpenAI's fields plus message_extras, computed once per class (__init_subclass__)
    _keep: ClassVar[frozenset[str]] = OPENAI_MESSAGE_FIELDS
    _keep_on_calls: ClassVar[frozenset[str]] = OPENAI_CALL_FIELDS
    #: how to ask this provider for JSON matching a schema (online/_structured.py): the modes are
    #: json_schema, json_object_schema, json_object, tool, prompt
    structured_output: str = "json_object"
    #: the provider streams an answer in its structured mode, so an ``output_type=`` call streams
    #: when ``streams_upstream`` says so, as any call (a cancel then stops the generation), and is
    #: parsed at the end; False for one that refuses a streamed JSON-mode request (Groq): each
    #: request of the call is then sent with ``stream=False``, one plain request
    structured_streams: ClassVar[bool] = True
    #: the system prompt sent when the module is built without ``system_prompt=`` (the seed's
    #: ``_get_system_prompt()``, which returns it); None sends none (OpenAI-compatible servers and
    #: Ollama, whose models bring their own)
    default_system_prompt: ClassVar[str | None] = None
    #: the models this platform can fine-tune (the seed's list): training another one logs a
    #: warning; empty means no check. ``trainable_models=`` overrides it per module.
    TRAINABLE_MODEL_LIST: ClassVar[Sequence[str]] = ()

    def __init_subclass__(cls, source: str | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        cls._keep = OPENAI_MESSAGE_FIELDS.union(cls.message_extras)
        cls._keep_on_calls = OPENAI_CALL_FIELDS.union(cls.message_extras)
        if source:
            cls.source = source.lower()
            register_chat(source, cls)

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        stream: bool = True,
        return_trace: bool = False,
        api_key: ApiKey = None,
        skip_auth: bool = False,
        dynamic_auth: bool = False,
        static_params: Mapping[str, Any] | None = None,
        type: str | None = None,
        poll_interval: float | None = None,
        system_prompt: str | None = None,
        model_series: str | None = None,
        model_type: str | None = None,
        model_name: str | None = None,
        trainable_models: Sequence[str] | None = None,
        id: str | None = None,
        name: str | None = None,
        **http: Unpack[HTTPOptions],
    ) -> None:
        super().__init__(return_trace=return_trace, id=id, name=name)
        self._series = _seed_series(self.source, model_series, model_type)
        self._init_provider(api_key, skip_auth=skip_auth, dynamic_auth=dynamic_auth, http=http,
                            source=self.source or self._series.lower())
        self._skip_auth = skip_auth
        self._base_url = base_url or self.default_base_url
        if not self._base_url:
            raise ConfigError(f"{type_name(self)} needs base_url=... (no default endpoint for this source)")
        if not self._base_url.startswith(("http://", "https://")):
            raise ConfigError(f"base_url must start with http:// or https://, got {self._base_url!r}")
        if model and model_name and model != model_name:
            raise ConfigError(f"model={model!r} and model_name={model_name!r} name two models; pass one of them")
        if system_prompt is not None and not isinstance(system_prompt, str):
            raise ConfigError(f"system_prompt must be a str ('' for none), got {system_prompt.__class__.__name__}")
        self._system_prompt = system_prompt
        self._trainable_models = list(trainable_models if trainable_models is not None else _trainable(self.__class__))
        self._model_name = model or model_name or self.default_model
        self._stream = stream
        self._static_params: dict[str, Any] = dict(static_params or {})
        self._type = (type or ("vlm" if self._is_vlm(self._model_name) else "llm")).lower()
        self._url = self._chat_url(self._base_url)
        self._prompt: PrompterBase = EmptyPrompter()
        self._formatter: FormatterBase = EmptyFormatter()
        self._init_finetune(poll_interval)

    # -- hooks -------------------------------------------------------------------------------

    def _chat_url(self, base_url: str) -> str:
        return urljoin(base_url if base_url.endswith("/") else base_url + "/", self.chat_path)

    def _request_url(self, model: str, base_url: str | None) -> str:
        """The URL of one call (Azure names the model's deployment in it)."""
        return self._url if base_url is None else self._chat_url(base_url)

    def _open_stream(self, url: str, body: dict[str, Any], headers: dict[str, str], settings: HTTPSettings,
                     model: str) -> AbstractAsyncContextManager[SSEStream]:
        """The event stream of one streamed call: SSE by default (Ollama reads NDJSON lines)."""
        return stream_sse("POST", url, json=body, headers=headers, settings=settings, provider=self.source,
                          model=model)

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        # the one rule: OpenAI's fields plus what this provider takes back (_message_fields.py)
        body: dict[str, Any] = {"model": model, "messages": wire_messages(messages, self._keep, self._keep_on_calls),
                                "stream": stream}
        if self._static_params:
            body.update(self._static_params)
        if tools:
            body["tools"] = tools
        if params:
            body.update(params)
        if stream and self.stream_usage and "stream_options" not in body:
            body["stream_options"] = {"include_usage": True}
        return body

    def _image_part(self, ref: ImageRef) -> dict[str, Any]:
        return {"type": "image_url", "image_url": {"url": ref.url}}

    def _convert_response(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict) or not isinstance(body.get("choices"), list) or not body["choices"]:
            if isinstance(body, dict) and "error" in body:
                raise self._body_error(body)
            raise ProtocolError(f"{self.source or 'provider'} answered without 'choices': {str(body)[:200]!r}",
                                provider=self.source, model=self._model_name)
        return body

    def _frame_converter(self) -> Callable[[SSEEvent], dict[str, Any] | None]:
        """The frame converter for one stream. Override when conversion needs per-stream state
        (Anthropic numbers tool calls per message); the default is stateless."""
        return self._convert_frame

    def _native_frames(self, convert: Callable[..., dict[str, Any] | None],
                       ) -> Callable[[SSEEvent], dict[str, Any] | None]:
        """A stream's frame converter for a provider whose frames are its own shape (Gemini,
        Ollama): each event parsed to a JSON object (or a typed ProtocolError), then turned into
        an OpenAI chunk by ``convert(data, stream=True)``, a fresh one per stream (it holds the
        stream's state)."""
        parse = OnlineChatModuleBase._convert_frame.__get__(self)

        def frame(event: SSEEvent) -> dict[str, Any] | None:
            data = parse(event)
            return convert(data, stream=True) if data is not None else None
        return frame

    def _convert_frame(self, event: SSEEvent) -> dict[str, Any] | None:
        try:
            frame = orjson.loads(event.data)
        except orjson.JSONDecodeError as exc:
            raise ProtocolError(f"malformed JSON in a stream frame from {self.source or 'the provider'}: "
                                f"{event.data[:80]!r}", provider=self.source, model=self._model_name) from exc
        if not isinstance(frame, dict):
            raise ProtocolError(f"a stream frame is not a JSON object: {event.data[:80]!r}", provider=self.source)
        return frame

    def _body_error(self, body: Mapping[str, Any], partial: str = "") -> APIError:
        """The error an answer reported in its body (HTTP 200) or inside a stream, typed by the
        provider's error rule (a content-filter code → ContentFilteredError keeping ``partial``)."""
        err = body.get("error")
        msg = err.get("message") if isinstance(err, dict) else err
        return error_for(self.source, body, f"{self.source or 'provider'} reported an error: {msg}",
                         model=self._model_name, partial=partial)

    def _get_system_prompt(self) -> str | None:
        """The provider's default system prompt (the seed's hook; a subclass may compute one)."""
        return self.default_system_prompt

    def _is_vlm(self, model: str | None) -> bool:
        return bool(model) and any(model.lower().startswith(p) for p in self.vlm_model_prefixes)  # type: ignore[union-attr]

    # -- builders ----------------------------------------------------------------------------

    def share(self, prompt: Any = _UNSET, format: Any = _UNSET, stream: bool | None = None,
              history: Sequence[Any] | None = None, copy_static_params: bool = False) -> Self:
        """A new module with a new id: same endpoint, key, pool and static params (unless
        ``copy_static_params``); its own prompt/formatter/stream when given.

        With several keys the copy shares the key pool itself: a key the provider refused is
        refused for both, so neither wastes a call finding that out again."""
        new = super().share(prompt, format, stream, history)
        if copy_static_params:
            new._static_params = copy.deepcopy(self._static_params)
        return new

    # -- properties --------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url

    @property
    def series(self) -> str:
        """The platform's name: ``model_series=`` (or the seed's ``model_type=``) as given, else the
        registered source. A class without ``source=`` reads its key as ``<series>_api_key``."""
        return self._series

    @property
    def system_prompt(self) -> str | None:
        """What leads every call's system message: ``system_prompt=`` when given, else the
        provider's default (``_get_system_prompt()``); None or ``""`` when there is none."""
        return self._system_prompt if self._system_prompt is not None else self._get_system_prompt()

    @property
    def trainable_models(self) -> list[str]:
        """The models this module's platform can fine-tune (``trainable_models=`` or the class's
        ``TRAINABLE_MODEL_LIST``); empty: not checked."""
        return self._trainable_models

    @property
    def type(self) -> str:
        return self._type

    @property
    def stream_enabled(self) -> bool:
        return self._stream

    @property
    def static_params(self) -> dict[str, Any]:
        return self._static_params

    @static_params.setter
    def static_params(self, value: dict[str, Any]) -> None:
        if not isinstance(value, dict):
            raise ConfigError(f"static_params must be a dict, got {type(value).__name__}")
        self._static_params = value

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "source": self.source, "model": self._model_name,
                "url": self._base_url, "stream": self._stream, "auth": self._keys.describe()}

    # -- calling -----------------------------------------------------------------------------

    async def _resolve_model(self) -> str:
        if self._model_name:
            return self._model_name
        # An OpenAI-compatible engine started without a model name: ask it which it serves.
        base = self._base_url if self._base_url.endswith("/") else self._base_url + "/"
        data, _ = await self._request_json("GET", urljoin(base, "models"))
        models = data.get("data") if isinstance(data, dict) else None
        if not models:
            raise ConfigError(f"{self._base_url} lists no models; pass model=...")
        self._model_name = str(models[0]["id"])
        return self._model_name

    async def _attach_files(self, messages: list[dict[str, Any]], files: list[str]) -> list[dict[str, Any]]:
        refs = await to_image_refs(files)
        if not self.accepts_image_urls and any(r.is_remote for r in refs):
            raise ConfigError(f"{self.source} takes only local image files (sent inline), not URLs; "
                              "download the image and pass its path")
        for i in range(len(messages) - 1, -1, -1):
            if messages[i].get("role") == "user":
                content = messages[i].get("content")
                parts = content if isinstance(content, list) else [{"type": "text", "text": content or ""}]
                messages[i] = {**messages[i], "content": [*parts, *(self._image_part(r) for r in refs)]}
                return messages
        raise ConfigError("files were given but the prompt has no user message to attach them to")

    async def forward(  # type: ignore[override]
        self,
        input: Any = None,
        *,
        llm_chat_history: Sequence[Any] | None = None,
        tools: list[dict[str, Any]] | None = None,
        lazyllm_files: Any = None,
        stream: bool | None = None,
        model: str | None = None,
        base_url: str | None = None,
        **params: Any,
    ) -> AsyncGenerator[Any, None]:
        settings = self._http
        raw_message = False
        if params:
            # Call options that are ours, not the provider's: they never go into the body.
            if (so := params.pop("stream_output", None)) is not None and stream is None:
                stream = bool(so)
            if (output_type := params.pop("output_type", None)) is not None:
                value = await self._structured(output_type, int(params.pop("output_retries", 2)), input,
                                               llm_chat_history, lazyllm_files, model, base_url, stream, params)
                yield Chunk("", tag="result", data=value)
                return
            params.pop("output_retries", None)
            raw_message = bool(params.pop("_message", False))
            if (timeout := params.pop("timeout", None)) is not None:
                settings = dataclasses.replace(settings, total_timeout=float(timeout))
        use_stream = streams_upstream(stream, self._stream)
        model = model or self._model_name or await self._resolve_model()
        files: list[str] = []
        if lazyllm_files or (isinstance(input, str) and input.startswith(QUERY_PREFIX)):
            input, files = split_query(input, lazyllm_files)
        prompt = self._prompt.generate_prompt(input, llm_chat_history, tools)
        messages = with_system_prompt(prompt["messages"], self.system_prompt)
        if files:
            messages = await self._attach_files(messages, files)
        body = self._build_body(messages, model=model, stream=use_stream, tools=prompt.get("tools"), params=params)
        url = self._request_url(model, base_url)
        headers = self._auth_headers()
        span = _tracing.model_span()  # None unless al.instrument() is on
        if span is not None:
            _tracing.genai_request(span, "chat", self.source or "openai_compatible", model, messages)
        answered_by: str | None = None
        retried = False
        while True:  # runs twice only to retry a call on the next key of a pool
            content: list[str] = []
            reasoning: list[str] = []
            calls: ToolCallAccumulator | None = None
            finish: str | None = None
            usage: Any = None
            try:
                if use_stream:
                    done = False
                    convert = self._frame_converter()
                    async with self._open_stream(url, body, headers, settings, model) as events:
                        while batch := await events.batch():  # a read's events at a time
                            for ev in batch:
                                # Read on to the end of the body after [DONE]: a body read to its end lets
                                # the connection go back to the pool instead of being closed.
                                if done:
                                    continue
                                if ev.data == "[DONE]":
                                    done = True
                                    continue
                                frame = convert(ev)
                                if frame is None:
                                    continue
                                if span is not None and answered_by is None:
                                    answered_by = frame.get("model")
                                    _tracing.genai_first_chunk(span)
                                if u := frame.get("usage"):
                                    usage = u
                                choices = frame.get("choices")
                                if not choices:
                                    if "error" in frame:
                                        raise self._body_error(frame, "".join(content))
                                    continue
                                ch = choices[0]
                                delta = ch.get("delta") or ch.get("message") or {}
                                # Reasoning: `reasoning_content` (DeepSeek's name, kept by most providers)
                                # or `reasoning` (vLLM renamed it: docs.vllm.ai/en/v0.26.0/features/
                                # reasoning_outputs/; SenseNova: OpenSenseNova/SenseNova6.7 API.md §8.1).
                                # The second lookup runs only when the first finds nothing.
                                if r := delta.get("reasoning_content") or delta.get("reasoning"):
                                    reasoning.append(r)
                                    yield Chunk(r, tag="think")
                                if c := delta.get("content"):
                                    content.append(c)
                                    yield c
                                if tc := delta.get("tool_calls"):
                                    if calls is None:
                                        calls = ToolCallAccumulator()
                                    calls.add(tc)
                                if f := ch.get("finish_reason"):
                                    finish = f
                    if finish is None and not done:
                        if self.errors_as_json_when_streaming and not (content or reasoning or calls or usage):
                            await self._raise_json_error(url, body, headers, model, settings)
                        raise ProtocolError(f"the stream from {self.source or url} ended before the model finished",
                                            provider=self.source, model=model)
                    tool_calls = calls.result() if calls else None
                    extras = getattr(convert, "extras", None) if self.message_extras else None
                else:
                    data, _ = await request_json("POST", url, json=body, headers=headers, settings=settings,
                                                 provider=self.source, model=model)
                    resp = self._convert_response(data)
                    answered_by = resp.get("model")
                    usage = resp.get("usage")
                    ch = resp["choices"][0]
                    msg = ch.get("message") or {}
                    finish = ch.get("finish_reason")
                    if r := msg.get("reasoning_content") or msg.get("reasoning"):
                        reasoning.append(r)
                        yield Chunk(r, tag="think")
                    if c := msg.get("content"):
                        content.append(c)
                        yield c
                    tool_calls = finish_calls(msg.get("tool_calls"))
                    extras = {k: msg[k] for k in self.message_extras if msg.get(k)} or None
                break
            except KEY_ERRORS as exc:
                # The provider refused the key: try the next key once, unless output went out.
                headers = self._next_key(headers, exc, may_retry=not (retried or content or reasoning))
                retried = True
        record_usage(self._module_id, usage_of(usage) or {}, self._used_by_moduleid)
        if span is not None:
            _tracing.genai_response(span, model=answered_by, usage=usage_of(usage), finish=finish,
                                    output=[{"role": "assistant", "content": "".join(content)}])
        if finish is not None and finish not in _OK_FINISH:
            self._raise_finish(finish, "".join(content), model)
        if raw_message or not self._formatter.is_empty:
            message: dict[str, Any] = {"role": "assistant", "content": "".join(content)}
            if tool_calls:
                message["tool_calls"] = tool_calls
            if reasoning:
                message["reasoning_content"] = "".join(reasoning)
            if extras:
                message.update(extras)
            yield Chunk("", tag="result", data=message if raw_message else self._formatter(message))
        elif tool_calls:
            log.warning("%s: the model asked for tool calls but the formatter drops them; set "
                        "formatter(FunctionCallFormatter()) to receive them", self.display_name)

    async def _structured(self, output_type: Any, retries: int, input: Any, history: Sequence[Any] | None,
                          files: Any, model: str | None, base_url: str | None, stream: bool | None,
                          params: dict[str, Any]) -> Any:
        """``output_type``'s value from the model (see online/_structured.py): ask in the provider's
        structured mode, validate, re-ask with the error up to ``retries`` times. Each answer is
        read whole before it is parsed; whether it streams is decided where every call's is, in
        ``forward`` (``streams_upstream``: a cancel hangs up on the stream, which stops the model),
        with ``stream=False`` asked for here only when the provider cannot stream that mode."""
        if not self.structured_streams:
            stream = False
        schema = OutputSchema(output_type)
        mode = self.structured_output
        extra, in_text = request_options(mode, schema)
        hist = list(history or [])
        question = input
        if in_text:
            if isinstance(input, str):
                question = f"{input}\n\n{schema.instructions()}"
            else:
                hist = [{"role": "system", "content": schema.instructions()}, *hist]
        raw, errors = "", ""
        for _ in range(retries + 1):
            message = await self._message(question, hist, files, model, base_url, stream, {**params, **extra})
            calls = message.get("tool_calls") or []
            raw = str(calls[0]["function"]["arguments"]) if mode == "tool" and calls else str(message["content"])
            try:
                return schema.parse(raw)
            except ValueError as exc:
                errors = str(exc)
            hist = [*hist, {"role": "user", "content": question}, {"role": "assistant", "content": raw}]
            question = (f"That answer does not match the schema: {errors}\n"
                        "Answer again with only the JSON value, corrected.")
            files = None  # the files went with the first question
        raise raise_invalid(raw, errors, retries + 1)

    async def _message(self, question: Any, history: list[Any], files: Any, model: str | None,
                       base_url: str | None, stream: bool | None, params: dict[str, Any]) -> dict[str, Any]:
        """One call's whole assistant message (tool calls included), streamed or not; the deltas
        are read here, never shown (the caller gets only the validated value)."""
        message: dict[str, Any] = {}
        async with aclosing(self.forward(question, llm_chat_history=history, lazyllm_files=files, stream=stream,
                                         model=model, base_url=base_url, _message=True, **params)) as pieces:
            async for piece in pieces:
                if isinstance(piece, Chunk) and piece.tag == "result":
                    message = piece.data
        return message

    async def _raise_json_error(self, url: str, body: dict[str, Any], headers: dict[str, str], model: str,
                                settings: HTTPSettings) -> None:
        """The provider answered a stream request with a plain JSON error (HTTP 200): ask again
        without streaming to read it, and raise the typed error it maps to."""
        data, _ = await request_json("POST", url, json={**body, "stream": False}, headers=headers,
                                     settings=settings, provider=self.source, model=model)
        self._convert_response(data)

    def _raise_finish(self, finish: str, partial: str, model: str) -> None:
        kw = {"provider": self.source, "model": model, "finish_reason": finish, "partial": partial}
        if finish in _FILTERED:
            raise ContentFilteredError(f"{self.source}: the provider's content filter stopped the answer "
                                       f"after {len(partial)} characters (partial output on .partial)", **kw)
        if finish == "length":
            raise IncompleteOutputError(f"{self.source}: the answer hit the token limit after {len(partial)} "
                                        "characters; raise max_tokens (partial output on .partial)", **kw)
        raise IncompleteOutputError(f"{self.source}: the model stopped with finish_reason {finish!r} "
                                    "(partial output on .partial)", **kw)


def type_name(obj: object) -> str:
    return type(obj).__name__


def with_system_prompt(messages: list[dict[str, Any]], system: str | None) -> list[dict[str, Any]]:
    """The messages with the module's system prompt leading the system message: joined (newline)
    before the text of a leading system message (the prompter's system text and instruction, or
    a conversation's own), else put first as a message of its own. Nothing to add: unchanged."""
    if not system:
        return messages
    first = messages[0] if messages else None
    if first is not None and first.get("role") == "system" and isinstance(first.get("content"), str):
        return [{**first, "content": f"{system}\n{first['content']}" if first["content"] else system},
                *messages[1:]]
    return [{"role": "system", "content": system}, *messages]


def _seed_series(source: str, model_series: str | None, model_type: str | None) -> str:
    """The module's series: the seed's ``model_series=`` (older seed: ``model_type=``), else the source."""
    if model_series and model_type and model_series != model_type:
        raise ConfigError(f"model_series={model_series!r} and model_type={model_type!r} are the same setting "
                          "(model_type is the older seed's name); pass one")
    series = model_series or model_type
    if series is not None and not isinstance(series, str):
        raise ConfigError(f"model_series must be a str, got {type(series).__name__}")
    return series or source


def _trainable(cls: type) -> Sequence[str]:
    # The seed's attribute, and the spelling its own example uses (TRAINABLE_MODELS_LIST).
    return getattr(cls, "TRAINABLE_MODEL_LIST", ()) or getattr(cls, "TRAINABLE_MODELS_LIST", ())
