"""``TrainableModule``: a local model — deployed on an engine, fine-tuned, called like any module.

::

    llm = al.TrainableModule("SmolLM2-135M-Instruct")      # llama.cpp on the CPU, no key
    async with llm:                                       # start() launches the engine
        await llm("hi")
        async for tok in llm.stream("tell me a story"): ...

    emb = al.TrainableModule("all-MiniLM-L6-v2")          # 384-dim embeddings (and rerank)

    m = (al.TrainableModule("SmolLM2-135M-Instruct", "/tmp/tuned")
         .finetune_method(al.finetune.cpu_lora, steps=14).trainset("data.jsonl"))
    await m.update()                                      # fine-tune → deploy the result → eval

Builders (``trainset``, ``train_method``, ``finetune_method``, ``deploy_method``, ``mode``) act on
the shared deployment (:class:`~asyncllm.trainable.impl.TrainableImpl`); ``prompt``/``formatter``
/``share`` on this front. The engine is spoken to over OpenAI-compatible HTTP through the online
layer's client (one per module id, so usage is recorded under this module and its ``used_by``).
Tools are written into the prompt in the model family's format and calls are parsed back out
of the raw text (:mod:`asyncllm.trainable.toolcalls`).
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from typing import Any, ClassVar, Self

from anyio.abc import TaskGroup

from .._exceptions import ConfigError, IncompleteOutputError
from .._status import Status
from ..deploy.base import EngineHandle, EngineStatus
from ..modules.base import ModuleBase
from ..option import Option
from ..prompts.base import EmptyPrompter, PrompterBase
from ..prompts.formatters import EmptyFormatter, FormatterBase
from ..prompts.llm import LLMBuilders
from ..streaming.channel import Chunk, streams_upstream
from ..streaming.stream import Stream
from .impl import TrainableImpl
from .toolcalls import ToolTokenGate, parse_tool_calls, to_openai_calls

__all__ = ["DEFAULT_PARAMETER_KEYS", "TrainableModule"]

#: what set_default_parameters takes without optional_keys: the OpenAI-compatible sampling
#: parameters every engine here reads (llama.cpp, vLLM, SGLang, LMDeploy, LightLLM's OpenAI route)
DEFAULT_PARAMETER_KEYS = frozenset({
    "temperature", "top_p", "top_k", "max_tokens", "stop", "seed", "presence_penalty", "frequency_penalty",
    "repetition_penalty", "n", "logprobs", "top_logprobs", "min_p"})

class _Capture(FormatterBase):
    """Makes the engine client hand back the whole assistant message (tool calls included)."""

    def format(self, msg: Any) -> Any:
        return msg


_CAPTURE = _Capture()


def _with_system(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    if messages and messages[0].get("role") == "system":
        return [{"role": "system", "content": f"{messages[0].get('content') or ''}\n\n{text}".strip()},
                *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


class TrainableModule(LLMBuilders, ModuleBase):
    """A local model on an inference engine; see the module docstring."""

    builder_keys: ClassVar[tuple[str, ...]] = TrainableImpl.builder_keys
    _share_drops = ("_client", "_embedder")  # a share builds its own client on the shared engine

    # stream=True by default (the seed's is False): a plain await then streams from the engine, so
    # cancelling it stops the engine's generation (streams_upstream); what the caller sees is the
    # same either way.
    def __init__(self, base_model: Option | str = "", target_path: str = "", *, stream: bool = True,
                 return_trace: bool = False, type: str | None = None, name: str | None = None,
                 source: str | None = None, trust_remote_code: bool = True) -> None:
        super().__init__(return_trace=return_trace, name=name)
        self._impl = TrainableImpl(base_model, target_path, type, source=source, trust_remote_code=trust_remote_code)
        self._stream = stream
        self._prompt: PrompterBase = EmptyPrompter()
        self._formatter: FormatterBase = EmptyFormatter()
        self._default_params: dict[str, Any] = {}

    # -- builders -----------------------------------------------------------------------------

    def _make_builder(self, key: str) -> Callable[..., Any]:
        impl = self._impl
        impl_setter = impl._make_builder(key)
        target = key[: -len("_method")] if key.endswith("_method") else key

        def setter(value: Any = None, **kw: Any) -> Any:
            if not kw:  # a later call without options must not keep the earlier call's
                setattr(impl, f"_{target}_args", {})
            return impl_setter(value, _return_value=self, **kw)

        setter.__name__ = key
        return setter

    # The seed's builders, written out so that editors and type checkers see them; each one
    # writes to the shared deployment (TrainableImpl) and returns this module.

    def trainset(self, data: Any) -> Self:
        """The training data: a file path (JSONL / JSON / CSV, as the method reads it) or a list."""
        self._make_builder("trainset")(data)
        return self

    def train_method(self, method: Any = None, **kw: Any) -> Self:
        """How full-parameter training runs (``al.train.auto``, ...), with that method's options."""
        self._make_builder("train_method")(method, **kw)
        return self

    def finetune_method(self, method: Any = None, **kw: Any) -> Self:
        """How fine-tuning runs (``al.finetune.cpu_lora``, ``llamafactory``, ``auto``, ...), with its options."""
        self._make_builder("finetune_method")(method, **kw)
        return self

    def deploy_method(self, method: Any = None, **kw: Any) -> Self:
        """The inference engine (``al.deploy.llamacpp``, ``vllm``, ...) with its options, or
        ``url=`` (and ``served_name=``) to attach to one already running."""
        self._make_builder("deploy_method")(method, **kw)
        return self

    def mode(self, mode: str) -> Self:
        """What ``update()`` runs before deploying: ``"finetune"`` (the default) or ``"train"``."""
        self._make_builder("mode")(mode)
        return self

    # -- properties ---------------------------------------------------------------------------

    @property
    def base_model(self) -> str:
        return self._impl.base_name

    @property
    def takes_chat_history(self) -> bool:
        return self._impl.kind == "llm"

    @property
    def reported_model(self) -> str | None:
        return self.base_model or None

    @property
    def target_path(self) -> str:
        return str(self._impl._target_path)

    @property
    def finetuned_model_path(self) -> str | None:
        return self._impl._finetuned_path

    @property
    def type(self) -> str:
        return self._impl.kind

    @property
    def series(self) -> str:
        return self._impl.family.name.upper()

    @property
    def url(self) -> str | None:
        """The engine's OpenAI base URL (``…/v1/``) while it runs or is attached."""
        engine = self._impl._engine
        return None if engine is None else engine.base_url

    @property
    def engine(self) -> EngineHandle | None:
        return self._impl._engine

    def status(self, task_name: str | None = None) -> EngineStatus | Status:
        """The engine's status, or with ``task_name`` that fine-tune task's (:class:`~asyncllm.launchers.Status`)."""
        if task_name is not None:
            return self._impl.task(task_name, "report on").status
        return self._impl.status()

    async def stop(self, task_name: str | None = None) -> Self:
        """Stop the engine (the module's lifecycle stop), or with ``task_name`` only that fine-tune
        task: its worker is killed and its status becomes ``CANCELLED``."""
        if task_name is None:
            return await super().stop()
        await self._impl.task(task_name, "stop").stop()
        return self

    async def finetune_task(self, name: str, task_group: TaskGroup, **kw: Any) -> None:
        """Start a fine-tune named ``name`` in ``task_group`` and return once it runs (the seed's
        ``_async_finetune``); ``kw`` overrides the ``finetune_method`` options for this run.
        ``status(name)`` follows it, ``await stop(name)`` cancels it; once done its model is
        ``finetuned_model_path`` and deployed by the next ``start()``. A failure is kept (status
        ``FAILED``, logged), not raised into ``task_group``."""
        await self._impl.start_task(name, task_group, kw)

    def get_all_models(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """``(valid, invalid)`` fine-tune runs under ``target_path``, each ``(run id, path)``: a valid
        run's path is its model, an invalid one's (failed, cancelled, unfinished) its folder."""
        return self._impl.all_models()

    def set_specific_finetuned_model(self, model_path: str | tuple[str, str]) -> Self:
        """Deploy this fine-tuned model (a path or run id from :meth:`get_all_models`, or one of its
        pairs) from the next ``start()``/``restart()`` on; anything else is a ``ConfigError``."""
        self._impl.set_specific_model(model_path)
        return self

    def set_default_parameters(self, *, optional_keys: Sequence[str] = (), **kw: Any) -> Self:
        """Sampling parameters sent with every chat request (a call's own keywords win):
        ``temperature``, ``top_p``, ``max_tokens``, ... Other names must be listed in
        ``optional_keys`` (they are passed to the engine as they are)."""
        unknown = set(kw) - DEFAULT_PARAMETER_KEYS - set(optional_keys)
        if unknown:
            raise ConfigError(f"set_default_parameters does not know {sorted(unknown)}: it takes "
                              f"{', '.join(sorted(DEFAULT_PARAMETER_KEYS))}; name others in optional_keys=[...]")
        self._default_params = {**self._default_params, **kw}
        return self

    def log_path(self) -> str | None:
        engine = self._impl._engine
        return None if engine is None else engine.log_path

    def _repr_fields(self) -> dict[str, Any]:
        dep = self._impl._deploy
        return {"name": self._module_name, "base_model": self.base_model or None,
                "deploy": getattr(dep, "name", None), "status": self.status().value}

    # -- calling ------------------------------------------------------------------------------

    def forward(self, *args: Any, **kw: Any) -> Any:
        # An LLM streams (an async generator); embeddings and rerank are one awaitable answer.
        if self._impl.kind in ("embed", "rerank"):
            return self._embed(*args, **kw)
        return self._chat(*args, **kw)

    def stream(self, *args: Any, buffer: int = 64, **kw: Any) -> Stream:
        pull = None
        if self._impl.kind == "llm" and not self._hooks:
            pull = functools.partial(self._pull_stream, args, kw)
        return Stream(lambda: self(*args, **kw), buffer=buffer, name=self.display_name, pull=pull)

    def _chat_client(self, engine: EngineHandle) -> Any:
        client = self.__dict__.get("_client")
        if client is None or client.base_url != engine.base_url:
            from ..online.compatible import OpenAICompatibleChat

            # Our id: the client records the engine's usage as this module's.
            # proxy=None: the engine is ours, on this host or a cluster node; HTTP(S)_PROXY is
            # for the internet, and a proxy would see every prompt.
            # The client asks streams for usage (stream_options.include_usage; vLLM and SGLang
            # honour it), but llama-cpp-python's server (0.3.36) has no such field and sends no
            # usage on a stream (abetlen/llama-cpp-python#1552 is unmerged): a streamed call there
            # records its usage as unknown (-1); stream=False gets the engine's counts.
            client = OpenAICompatibleChat(engine.served_name or None, base_url=engine.base_url, skip_auth=True,
                                          stream=False, proxy=None, id=self._module_id, name=self.display_name)
            client._formatter = _CAPTURE
            if engine.deployer is not None:  # how this engine takes a JSON schema (output_type=)
                client.structured_output = engine.deployer.structured_output
            self.__dict__["_client"] = client
        client._used_by_moduleid = self._used_by_moduleid
        return client

    def _embed_client(self, engine: EngineHandle) -> Any:
        client = self.__dict__.get("_embedder")
        if client is None or self.__dict__.get("_embed_base") != engine.base_url:
            from ..online.compatible import OpenAICompatibleEmbedding, OpenAICompatibleRerank

            cls = OpenAICompatibleRerank if self._impl.kind == "rerank" else OpenAICompatibleEmbedding
            client = cls(engine.base_url, engine.served_name or None, skip_auth=True, proxy=None,
                         id=self._module_id, name=self.display_name)
            self.__dict__["_embedder"] = client
            self.__dict__["_embed_base"] = engine.base_url
        return client

    async def _embed(self, *args: Any, **kw: Any) -> Any:
        client = self._embed_client(self._impl.require_engine(self.display_name))
        return await client.forward(*args, **kw)

    async def _chat(self, input: Any = None, *, llm_chat_history: Sequence[Any] | None = None,
                    tools: list[dict[str, Any]] | None = None, lazyllm_files: Any = None,
                    stream: bool | None = None, **params: Any) -> AsyncGenerator[Any, None]:
        engine = self._impl.require_engine(self.display_name)
        params = {**self._default_params, **params}
        if (so := params.pop("stream_output", None)) is not None and stream is None:
            stream = bool(so)
        use_stream = streams_upstream(stream, self._stream)
        family = self._impl.family
        chosen = list(tools) if tools is not None else self._prompt.tools
        messages = self._prompt.generate_prompt(input, llm_chat_history, None)["messages"]
        native_tools = None
        if chosen:
            if family.tool_prompt is not None:
                messages = _with_system(messages, family.tool_prompt(chosen))
            else:
                native_tools = chosen  # the engine's own tool support (vLLM with a tool parser, ...)
        gate = ToolTokenGate(family.tool_start_token if chosen else None)
        client = self._chat_client(engine)
        if params.get("output_type") is not None:
            # Structured output in the engine's own JSON mode, streamed by the same rule (the client
            # reads the answer whole, then parses and validates it): a cancel stops the engine.
            async with aclosing(client.forward(messages, lazyllm_files=lazyllm_files, stream=use_stream,
                                               **params)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, Chunk) and piece.tag == "result":
                        yield piece
            return
        raw: list[str] = []
        message: dict[str, Any] = {}
        try:
            # aclosing: a cancelled call closes the engine's stream now (on trio an unclosed
            # generator would wait for the garbage collector, keeping the connection open).
            async with aclosing(client.forward(messages, tools=native_tools, lazyllm_files=lazyllm_files,
                                               stream=use_stream, **params)) as pieces:
                async for piece in pieces:
                    if isinstance(piece, Chunk) and piece.tag != "text":
                        if piece.tag == "result":
                            message = piece.data if isinstance(piece.data, dict) else {}
                        else:
                            yield piece  # reasoning
                        continue
                    raw.append(piece)
                    if shown := gate.feed(piece):
                        yield shown
        except IncompleteOutputError as exc:
            # A local model asked for max_tokens gives that many (as LazyLLM's engines do); only a
            # content filter is an error.
            if exc.finish_reason != "length":
                raise
        if rest := gate.flush():
            yield rest
        text, calls = parse_tool_calls("".join(raw), **family.tool_keys, tools=chosen)
        all_calls = list(message.get("tool_calls") or []) + to_openai_calls(calls)
        if not self._formatter.is_empty:
            out: dict[str, Any] = {"role": "assistant", "content": text}
            if all_calls:
                out["tool_calls"] = all_calls
            if message.get("reasoning_content"):
                out["reasoning_content"] = message["reasoning_content"]
            yield Chunk("", tag="result", data=self._formatter(out))

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        # HTTP clients are per module and cheap to rebuild; never copy them.
        d = self.__dict__
        saved: dict[str, Any] = {k: d.pop(k) for k in ("_client", "_embedder", "_embed_base") if k in d}
        try:
            return super().__deepcopy__(memo)
        finally:
            d.update(saved)
