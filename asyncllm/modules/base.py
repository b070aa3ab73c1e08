"""``ModuleBase``: the async callable unit everything else is built from.

A module defines ``async def forward(...)`` (or an async generator ``forward`` to stream) and is
called with ``await m(x)``. Assigning a module, an :class:`~asyncllm.option.Option` or a
``*_args`` dict holding Options to an attribute registers it, which is what ``submodules``,
``options`` and the lifecycle (``start``/``update``/``eval``/``stop``) walk.
"""

from __future__ import annotations

import copy
import functools
import inspect
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from types import AsyncGeneratorType, CoroutineType, TracebackType
from typing import Any, ClassVar, Self

from .. import _context as _ctx
from .. import _tracing
from .._context import TraceRecord
from .._context import _session as _current_session
from .._exceptions import AsyncLLMError, ConfigError, ModuleExecutionError
from .._types import kwargs as kwargs_type
from ..option import Option
from ..streaming.channel import Chunk, Sink, as_chunk, bind_sink, current_sink, emit, reset_sink, worth_sending
from ..streaming.stream import Stream
from .hooks import HookHandle, HookRunner, check_hook

__all__ = ["ModuleBase"]

# ``__call__``'s first argument when the caller gave none (``None`` is a value a module may take).
_NO_ARG: Any = object()


def _annotation_allows_option(ann: Any) -> bool:
    if ann is Option or ann == "Option":
        return True
    if isinstance(ann, str):
        return "Option" in ann
    return isinstance(ann, (tuple, list)) and Option in ann


def _check_option_args(cls: type, args: tuple[Any, ...], kw: dict[str, Any]) -> None:
    """An Option may only be passed to a parameter annotated to take one (as in the seed)."""
    if not any(isinstance(v, Option) for v in (*args, *kw.values())):
        return
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    by_name = {p.name: p for p in params}
    checks: list[tuple[inspect.Parameter | None, Any, str | None]] = [
        (positional[i] if i < len(positional) else None, v, None) for i, v in enumerate(args)]
    # a keyword that lands in **kwargs (an online module's network options) is named as given
    checks += [(by_name.get(k), v, k) for k, v in kw.items()]
    for param, value, key in checks:
        if isinstance(value, Option) and (param is None or not _annotation_allows_option(param.annotation)):
            name = param.name if param else key or "this argument"
            raise ConfigError(
                f"{cls.__name__}: {name} cannot take an Option; annotate the parameter as `Option` "
                "or pass the Option to a builder such as finetune_method()/deploy_method()"
            )


class _ListSend:
    """A sink that buffers in a list: what a pulled leaf emits between two of its pieces."""

    __slots__ = ("items",)

    def __init__(self, items: list[Chunk]) -> None:
        self.items = items

    async def send(self, item: Chunk) -> None:
        self.items.append(item)


class _Builder:
    """``m.<key>(value, **kw)``: the fluent builder of one of a class's ``builder_keys``."""

    __slots__ = ("key",)

    def __init__(self, key: str) -> None:
        self.key = key

    def __get__(self, obj: Any, owner: type) -> Any:
        return self if obj is None else obj._make_builder(self.key)


class _EmptyArgs:
    """The ``_<key>_args`` of a builder never called: a fresh empty dict each time."""

    __slots__ = ()

    def __get__(self, obj: Any, owner: type) -> Any:
        return {}


def _install_builders(cls: type) -> None:
    """Give ``cls`` its builders and their unset values (``_<key>`` None, ``_<key>_args`` {}).

    Class attributes (non-data descriptors), not ``__getattr__``: a class with ``__getattr__``
    loses CPython's fast attribute lookup on every ``self.x`` (~0.1 µs each), module calls included.
    An instance value set by the builder shadows them.
    """
    for key in cls.__dict__.get("builder_keys", ()):
        targets = {key, key[: -len("_method")]} if key.endswith("_method") else {key}
        if getattr(cls, key, None) is None:  # a method written out (typed) stays
            setattr(cls, key, _Builder(key))
        for t in targets:
            if not hasattr(cls, f"_{t}"):
                setattr(cls, f"_{t}", None)
            if not hasattr(cls, f"_{t}_args"):
                setattr(cls, f"_{t}_args", _EmptyArgs())


class ModuleBase:
    """Base class of every module. Subclasses implement ``async def forward``."""

    builder_keys: ClassVar[tuple[str, ...]] = ()
    mode_list: ClassVar[tuple[str, ...]] = ("train", "server", "eval")

    # Set in __new__ (before any __init__), declared here for the type checker.
    _submodule_map: dict[str, ModuleBase]
    _options: dict[str, list[Option]]
    _hooks: list[Any]
    _plain: bool  # __call__ may take its fast path (see _update_plain)
    _module_id: str
    _module_name: str | None
    _return_trace: bool
    _used_by_moduleid: str | None
    _deployed: bool
    _attached: bool
    # forward is an ``async def`` (not an async generator, not a plain def returning an awaitable)
    _coro_forward: ClassVar[bool] = True

    def __new__(cls, *args: Any, **kw: Any) -> Self:
        _check_option_args(cls, args, kw)
        self = object.__new__(cls)
        # Set up registration state before __init__, so subclasses that assign modules before
        # (or without) calling super().__init__() still work.
        d = self.__dict__
        d["_submodule_map"] = {}
        d["_options"] = {}  # attribute name -> its Options, so reassigning replaces them
        d["_hooks"] = []
        d["_plain"] = cls._coro_forward  # __call__ may take its fast path (see _update_plain)
        d["_module_id"] = uuid.uuid4().hex
        d["_module_name"] = None
        d["_return_trace"] = False
        d["_used_by_moduleid"] = None
        d["_evalset"] = None
        d["_eval_load_f"] = None
        d["_eval_collect_f"] = None
        d["_eval_concurrency"] = 16
        d["eval_result"] = None
        d["_deployed"] = False
        d["_attached"] = False
        return self

    def __init__(self, *, return_trace: bool = False, id: str | None = None, name: str | None = None) -> None:
        self._return_trace = return_trace
        if id is not None:
            self._module_id = id
        if name is not None:
            self._module_name = name

    # -- registration ------------------------------------------------------------------------

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        smap, omap = d["_submodule_map"], d["_options"]
        if isinstance(value, ModuleBase):
            smap[name] = value
            omap.pop(name, None)
        else:
            smap.pop(name, None)
            if isinstance(value, Option):
                omap[name] = [value]
            elif name.endswith("_args") and isinstance(value, dict):
                omap[name] = [v for v in value.values() if isinstance(v, Option)]
            else:
                omap.pop(name, None)
        object.__setattr__(self, name, value)
        if name in ("_return_trace", "_hooks", "forward"):
            self._update_plain()

    def _update_plain(self) -> None:
        """``_plain``: forward is a coroutine function, no hooks, no return_trace."""
        d = self.__dict__
        fwd = d.get("forward")
        coro = type(self)._coro_forward if fwd is None else inspect.iscoroutinefunction(fwd)
        d["_plain"] = coro and not d["_hooks"] and not d["_return_trace"]

    def __delattr__(self, name: str) -> None:
        self.__dict__["_submodule_map"].pop(name, None)
        self.__dict__["_options"].pop(name, None)
        object.__delattr__(self, name)

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        _install_builders(cls)
        cls._coro_forward = inspect.iscoroutinefunction(cls.forward)

    def _make_builder(self, key: str) -> Callable[..., Any]:
        target = key[: -len("_method")] if key.endswith("_method") else key

        def setter(value: Any = None, *, _return_value: Any = self, **kw: Any) -> Any:
            if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
                value, extra = value
                kw = {**extra, **kw}
            if kw:
                setattr(self, f"_{target}_args", kw)
            setattr(self, f"_{target}", value)
            hook = getattr(type(self), f"_{target}_setter_hook", None)
            if hook is not None:
                hook(self)
            return _return_value

        setter.__name__ = key
        return setter

    @property
    def submodules(self) -> list[ModuleBase]:
        seen: set[int] = set()
        out: list[ModuleBase] = []
        for m in self._submodule_map.values():
            if id(m) not in seen:
                seen.add(id(m))
                out.append(m)
        return out

    def named_submodules(self) -> Iterable[tuple[str, ModuleBase]]:
        return self._submodule_map.items()

    @property
    def options(self) -> list[Option]:
        """This module's Options and, recursively, its submodules' (each Option once)."""
        seen: set[int] = set()
        out: list[Option] = []

        def add(opts: Iterable[Option]) -> None:
            for o in opts:
                # A trial's copy holds plain values where Options were: those are not options.
                if isinstance(o, Option) and id(o) not in seen:
                    seen.add(id(o))
                    out.append(o)

        for opts in self._options.values():
            add(opts)
        for m in self.submodules:
            add(m.options)
        return out

    def for_each(self, filter: Callable[[ModuleBase], bool], action: Callable[[ModuleBase], Any]) -> None:
        """Depth-first over every submodule below this one (not this one)."""
        for m in self.submodules:
            if filter(m):
                action(m)
            m.for_each(filter, action)

    # -- identity ----------------------------------------------------------------------------

    @property
    def id(self) -> str:
        return str(self._module_id)

    @property
    def name(self) -> str | None:
        return self._module_name

    @name.setter
    def name(self, value: str | None) -> None:
        self.__dict__["_module_name"] = value

    @property
    def display_name(self) -> str:
        """The name chunks and errors are tagged with: ``name`` or the class name."""
        return self._module_name or type(self).__name__

    def used_by(self, module_id: str) -> Self:
        """Aggregate this module's token usage into the module with ``module_id``."""
        self._used_by_moduleid = module_id
        return self

    def _set_mid(self, mid: str | None = None) -> Self:
        self._module_id = mid or uuid.uuid4().hex
        return self

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name}

    def _repr_line(self) -> str:
        fields = " ".join(f"{k}={v}" for k, v in self._repr_fields().items() if v not in (None, ""))
        return f"<Module type={type(self).__name__}{' ' + fields if fields else ''}>"

    def __repr__(self) -> str:
        lines = [self._repr_line()]
        subs = self.submodules
        for i, m in enumerate(subs):
            last = i == len(subs) - 1
            child = repr(m).splitlines()
            lines.append(("└─ " if last else "├─ ") + child[0])
            lines.extend(("   " if last else "│  ") + c for c in child[1:])
        return "\n".join(lines)

    # -- hooks -------------------------------------------------------------------------------

    def register_hook(self, hook: Any) -> HookHandle:
        """Add a hook (a Hook or LazyLLMHook class or instance, a seed-style hook object, or a
        function); returns a handle with ``remove()``."""
        check_hook(hook)
        if hook not in self._hooks:
            self._hooks.append(hook)
        self._update_plain()
        return HookHandle(self, hook)

    def unregister_hook(self, hook: Any) -> None:
        if hook in self._hooks:
            self._hooks.remove(hook)
        self._update_plain()

    def clear_hooks(self) -> None:
        self._hooks.clear()
        self._update_plain()

    # -- calling -----------------------------------------------------------------------------

    async def forward(self, *args: Any, **kw: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement `async def forward(...)`")

    async def __call__(self, x: Any = _NO_ARG, /, *args: Any, **kw: Any) -> Any:
        # The hot path of every call (benchmarks/core_overhead.py): one positional argument, a
        # coroutine forward with no hooks and no return_trace, called outside any session, is
        # awaited directly; every feature below is paid for only when it is in use. (``x`` is
        # positional-only so that this case packs no argument tuple; Pipeline.forward has the
        # same path inlined into its loop.)
        # (``type(x) is`` suffices: kwargs cannot be subclassed.)
        if self._plain and not args and not kw and x is not _NO_ARG and type(x) is not kwargs_type \
                and (not _ctx.sessions_seen or _current_session.get() is None):
            try:
                result = await self.forward(x)
            except Exception as exc:
                raise self._wrap_error(exc) from self._wrap_cause(exc)
            if _ctx.sessions_seen:  # forward may have bound one (al.current_session())
                self._end_usage()
            return result
        return await self._call_full((x, *args) if x is not _NO_ARG else args, kw)

    async def _call_full(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        """Every call but the one-argument fast path above: session values, hooks,
        ``return_trace``, a ``kwargs`` first argument, a forward of any colour."""
        # No session is made here when none is bound: a Session costs ~800 bytes, and a call
        # waiting on the network would hold it all that time (benchmarks/inflight_memory.py).
        # Usage and return_trace are recorded only into a session the caller opened.
        sess = _current_session.get()
        if sess is not None and (sess.global_parameters or sess.files or sess.chat_history):
            self._inject(sess, self._module_id, kw)
        if args and isinstance(args[0], kwargs_type):
            kw = {**args[0], **kw}
            args = args[1:]
        if self._hooks:
            result = await self._call_with_hooks(args, kw)
        else:
            try:
                out: Any = self.forward(*args, **kw)
                if type(out) is CoroutineType:
                    result = await out
                elif type(out) is AsyncGeneratorType:  # a streaming forward: one frame less in flight
                    result = await self._collect(out)
                else:
                    result = await self._finish_forward(out)
            except Exception as exc:
                raise self._wrap_error(exc) from self._wrap_cause(exc)
        if (sess := self._end_usage()) is not None and self._return_trace:
            self._record_trace(sess, result)
        return result

    def _end_usage(self) -> Any:
        """A call's own usage entry ends with it (``usage_log`` keeps every record), in the
        session bound now: the caller's, or one ``forward`` bound itself. Returns that session."""
        if (sess := _current_session.get()) is not None and sess.usage:
            sess.usage.pop(self._module_id, None)
        return sess

    @staticmethod
    def _inject(sess: Any, mid: str, kw: dict[str, Any]) -> None:
        """Per-module session values become keyword arguments (as in the seed)."""
        if params := sess.global_parameters.get(mid):
            kw.update(params)
        if (files := sess.files.get(mid)) is not None:
            kw["lazyllm_files"] = files
        if (history := sess.chat_history.get(mid)) is not None:
            kw["llm_chat_history"] = history

    async def _call_with_hooks(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        runner = HookRunner(self._hooks, self)
        try:
            await runner.pre(*args, **kw)
            result = await self._run_forward(args, kw)
            await runner.post(result)
            return result
        except Exception as exc:
            await runner.on_error(exc)
            raise self._wrap_error(exc) from self._wrap_cause(exc)
        finally:
            await runner.finalize()

    async def _run_forward(self, args: tuple[Any, ...], kw: dict[str, Any]) -> Any:
        return await self._finish_forward(self.forward(*args, **kw))

    async def _finish_forward(self, out: Any) -> Any:
        if inspect.isawaitable(out):
            return await out
        if isinstance(out, AsyncIterator):
            return await self._collect(out)
        return out

    async def _collect(self, agen: AsyncIterator[Any]) -> Any:
        """Drain a streaming forward: send each piece to the open stream, return the whole."""
        pieces: list[Any] = []
        name = self.display_name
        sink = current_sink()
        try:
            async for piece in agen:
                pieces.append(piece)
                if sink is not None and getattr(piece, "tag", "text") != "result" and worth_sending(piece):
                    await sink.send.send(as_chunk(piece, name))
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                await aclose()
        return self._join_pieces(pieces)

    @staticmethod
    def _join_pieces(pieces: list[Any]) -> Any:
        """The call's value from a streaming forward's pieces.

        A last ``Chunk(tag="result", data=v)`` states the value outright (a formatter's output,
        say); otherwise the text pieces joined (reasoning and events are streamed, not part of
        the answer), or the list of pieces when they are not text.
        """
        if pieces and isinstance(last := pieces[-1], Chunk) and last.tag == "result":
            return last.data
        texts = [p for p in pieces if isinstance(p, str) and getattr(p, "tag", "text") == "text"]
        if len(texts) == len(pieces):
            return "".join(texts)
        if all(isinstance(p, str) for p in pieces):
            return "".join(texts)  # reasoning and events are streamed, not part of the answer
        return pieces

    def _wrap_error(self, exc: Exception) -> Exception:
        if isinstance(exc, AsyncLLMError):
            # Already typed (and, for nested modules, already naming the innermost module).
            exc.add_note(f"  in module {self.display_name} ({type(self).__name__})")
            return exc
        return ModuleExecutionError(
            f"{type(self).__name__}{f'[{self._module_name}]' if self._module_name else ''} failed: "
            f"{type(exc).__name__}: {exc}",
            module=self.display_name,
        )

    @staticmethod
    def _wrap_cause(exc: Exception) -> BaseException | None:
        return exc.__cause__ if isinstance(exc, AsyncLLMError) else exc

    async def emit(self, delta: Any, *, tag: str = "text") -> None:
        """Send a chunk to the caller's open stream (no-op when nobody streams)."""
        await emit(delta, module=self.display_name, tag=tag)

    @asynccontextmanager
    async def stream_output(self, spec: bool | dict[str, Any] | None = None) -> AsyncIterator[None]:
        """Emit ``spec['prefix']`` before and ``spec['suffix']`` after the block (not on error)."""
        if isinstance(spec, dict) and spec.get("prefix"):
            await self.emit(spec["prefix"])
        yield
        if isinstance(spec, dict) and spec.get("suffix"):
            await self.emit(spec["suffix"])

    def stream(self, *args: Any, buffer: int = 64, **kw: Any) -> Stream:
        """Call the module and stream what it (and everything under it) produces.

        ``buffer``: how many chunks the producer may run ahead of the reader (``0``: no bound).
        A module whose ``forward`` is an async generator is read directly in the reader's task
        when iterated bare; anything else runs as a producer task (see streaming/stream.py).
        """
        pull = None
        if inspect.isasyncgenfunction(type(self).forward):
            pull = functools.partial(self._pull_stream, args, kw)
        return Stream(lambda: self(*args, **kw), buffer=buffer, name=self.display_name, pull=pull)

    async def _pull_stream(
        self, args: tuple[Any, ...], kw: dict[str, Any], stream: Stream
    ) -> AsyncGenerator[Chunk, None]:
        """A leaf streaming module read in the caller's own task (see streaming/stream.py).

        Whatever the generator ``emit()``s (a ``stream_output`` prefix, say) goes to a local
        unbounded buffer bound only while the generator runs, and is yielded in order before the
        piece that followed it: the generator never runs ahead by more than one piece.
        """
        sess = _current_session.get()
        mid = self._module_id
        kw = dict(kw)
        if sess is not None:
            self._inject(sess, mid, kw)
        if args and isinstance(args[0], kwargs_type):
            kw = {**args[0], **kw}
            args = args[1:]
        with _tracing.stream_span(self) as span:
            pieces: list[Any] = []
            name = self.display_name
            runner = HookRunner(self._hooks, self) if self._hooks else None
            emitted: list[Chunk] = []
            sink = Sink(_ListSend(emitted))
            agen: Any = None
            try:
                if runner is not None:
                    await runner.pre(*args, **kw)
                agen = self.forward(*args, **kw)
                while True:
                    token = bind_sink(sink)
                    try:
                        if span is None:
                            piece = await agen.__anext__()
                        else:  # the module's span is current while its generator runs, not while we yield
                            with _tracing.step(span):
                                piece = await agen.__anext__()
                    except StopAsyncIteration:
                        break
                    finally:
                        reset_sink(token)
                    if emitted:
                        for chunk in emitted:
                            yield chunk
                        emitted.clear()
                    pieces.append(piece)
                    chunk = as_chunk(piece, name)
                    # worth_sending(chunk), inlined: this runs once per streamed token
                    if chunk.tag != "result" and (chunk or chunk.data is not None):
                        yield chunk
                for chunk in emitted:
                    yield chunk
                result = self._join_pieces(pieces)
                if runner is not None:
                    await runner.post(result)
            except Exception as exc:
                if runner is not None:
                    await runner.on_error(exc)
                raise self._wrap_error(exc) from self._wrap_cause(exc)
            finally:
                if agen is not None:
                    await agen.aclose()
                if runner is not None:
                    await runner.finalize()
            if (sess := self._end_usage()) is not None and self._return_trace:
                if span is None:
                    self._record_trace(sess, result)
                else:
                    with _tracing.step(span):
                        self._record_trace(sess, result)
        stream.set_result(result)

    def _record_trace(self, sess: Any, result: Any) -> None:
        if self._return_trace:
            sess.trace.append(result)
            span_id, parent_id = _tracing.span_ids()
            sess.trace_records.append(TraceRecord(self.display_name, self._module_id, result, span_id, parent_id))
            if sess.trace_sink is not None:
                sess.trace_sink(self.display_name, result)

    # -- lifecycle ---------------------------------------------------------------------------

    def _get_train_tasks(self) -> Any:
        return None

    def _get_deploy_tasks(self) -> Any:
        return None

    def _get_post_process_tasks(self) -> Any:
        return None

    def _get_eval_tasks(self) -> Any:
        if self._evalset is None:
            return None
        return self._run_evalset

    async def _stop_impl(self) -> None:
        """Release what this module itself holds (not its submodules). Override to add."""

    async def _wait_impl(self) -> None:
        """Wait for what this module itself runs to end. Override to add."""

    async def _update(self, *, mode: str | Iterable[str] | None = None, recursive: bool = True) -> Self:
        from .lifecycle import run_update

        await run_update(self, mode, recursive)
        return self

    async def update(self, *, recursive: bool = True) -> Self:
        """Train, deploy, then evaluate this module and (recursively) its submodules."""
        return await self._update(mode=("train", "server", "eval"), recursive=recursive)

    async def update_server(self, *, recursive: bool = True) -> Self:
        return await self._update(mode=("server",), recursive=recursive)

    async def start(self) -> Self:
        """Deploy this module and its submodules (once, until ``stop()``)."""
        return await self._update(mode=("server",), recursive=True)

    async def eval(self, *, recursive: bool = True) -> Self:
        return await self._update(mode=("eval",), recursive=recursive)

    async def restart(self) -> Self:
        await self.stop()
        return await self.start()

    async def stop(self) -> Self:
        from .lifecycle import run_stop

        await run_stop(self)
        return self

    async def wait(self) -> Self:
        from .lifecycle import run_wait

        await run_wait(self)
        return self

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- evaluation --------------------------------------------------------------------------

    def evalset(
        self,
        data: Any,
        load_f: Callable[[Any], Any] | None = None,
        collect_f: Callable[[list[Any]], Any] | None = None,
        *,
        concurrency: int = 16,
    ) -> Self:
        """Set the evaluation data: a list, or a file path read with ``load_f(file)``."""
        if isinstance(data, str) and load_f is None:
            import os

            if os.path.exists(data):
                raise ConfigError(f"evalset({data!r}) is a file path: pass load_f to parse it")
        if concurrency < 1:
            raise ConfigError(f"evalset concurrency must be >= 1, got {concurrency}")
        self._evalset = data
        self._eval_load_f = load_f
        self._eval_collect_f = collect_f
        self._eval_concurrency = concurrency
        return self

    async def _run_evalset(self) -> Any:
        from .evaluation import run_evalset

        self.eval_result = await run_evalset(self)
        return self.eval_result

    def _shallow_clone(self) -> Self:
        """A shallow copy with a new id and its own hooks, submodule and Option registries
        (what ``share()`` builds on): shared deployment, separate identity."""
        new = copy.copy(self)
        d = new.__dict__
        d["_module_id"] = uuid.uuid4().hex
        d["_hooks"] = list(self._hooks)
        d["_submodule_map"] = dict(self._submodule_map)
        d["_options"] = {k: list(v) for k, v in self._options.items()}
        return new

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        cls = type(self)
        new = cls.__new__(cls)
        memo[id(self)] = new
        for k, v in self.__dict__.items():
            new.__dict__[k] = copy.deepcopy(v, memo)
        # An Option copies to its current choice; when that choice is a module it must be a
        # submodule of the copy, or the lifecycle (a trial's deploy) would never reach it.
        omap, smap = new.__dict__["_options"], new.__dict__["_submodule_map"]
        for name in [n for n in omap if isinstance(new.__dict__.get(n), ModuleBase)]:
            smap[name] = new.__dict__[name]
            del omap[name]
        return new
