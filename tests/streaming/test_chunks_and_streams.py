"""Streaming: async-generator forward, emit()/stream_output, chunks from inside flows tagged and
live, back-pressure, early exit and cancellation closing the producer, the final value."""

from __future__ import annotations

import asyncio
import warnings
from typing import Any, ClassVar

import anyio
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class Tokens(ModuleBase):
    """Streams the words of its input; records how far it got and whether it was closed."""

    def __init__(self, name: str | None = None, delay: float = 0.0) -> None:
        super().__init__(name=name)
        self.delay = delay
        self.produced = 0
        self.closed = False
        self.completed = False

    async def forward(self, text: str) -> Any:
        try:
            for word in text.split():
                self.produced += 1
                yield word + " "
                if self.delay:
                    await anyio.sleep(self.delay)
            self.completed = True
        finally:
            self.closed = True


async def test_bare_async_for_over_a_leaf() -> None:
    m = Tokens(name="tok")
    s = m.stream("a b c")
    chunks = [c async for c in s]
    assert chunks == ["a ", "b ", "c "]
    assert all(isinstance(c, al.Chunk) and c.module == "tok" and c.tag == "text" for c in chunks)
    assert s.result == "a b c "
    assert m.closed and m.completed


async def test_async_with_over_a_leaf_and_the_result() -> None:
    m = Tokens()
    async with m.stream("x y") as s:
        with pytest.raises(al.StreamError, match="not finished"):
            _ = s.result
        chunks = [c async for c in s]
    assert chunks == ["x ", "y "] and chunks[0].module == "Tokens"
    assert s.result == "x y "


async def test_await_on_a_streaming_module_returns_the_joined_text() -> None:
    assert await Tokens()("p q") == "p q "


async def test_stream_is_single_use() -> None:
    s = Tokens().stream("a")
    await s.collect()
    with pytest.raises(al.StreamError, match="only once"):
        async with s:
            pass
    with pytest.raises(al.StreamError, match="only once"):
        async for _ in s:
            pass
    with pytest.raises(al.StreamError):
        Tokens().stream("a", buffer=-1)


class Emitter(ModuleBase):
    async def forward(self, x: str) -> str:
        async with self.stream_output({"prefix": "<<", "suffix": ">>"}):
            await self.emit(x.upper())
            await self.emit("thinking", tag="think")
            await al.emit("raw", module="custom")
        return x


async def test_emit_and_stream_output_prefix_suffix() -> None:
    m = Emitter(name="em")
    async with m.stream("hi") as s:
        chunks = [(str(c), c.module, c.tag) async for c in s]
    assert chunks == [("<<", "em", "text"), ("HI", "em", "text"), ("thinking", "em", "think"),
                      ("raw", "custom", "text"), (">>", "em", "text")]
    assert s.result == "hi"
    assert await m("quiet") == "quiet"  # nobody streams: emit is a no-op


async def test_stream_output_suffix_not_emitted_on_error() -> None:
    class Breaks(ModuleBase):
        async def forward(self, x: str) -> str:
            async with self.stream_output({"prefix": "[", "suffix": "]"}):
                raise ValueError("mid-stream")

    got: list[str] = []
    with pytest.raises(al.ModuleExecutionError, match="mid-stream"):
        async with Breaks().stream("x") as s:
            async for c in s:
                got.append(c)
    assert got == ["["]


async def test_emit_inside_a_streaming_leaf_read_bare() -> None:
    class Framed(ModuleBase):
        async def forward(self, x: str) -> Any:
            async with self.stream_output({"prefix": "(", "suffix": ")"}):
                yield x
                yield x

    chunks = [c async for c in Framed(name="f").stream("z")]
    assert chunks == ["(", "z", "z", ")"]
    assert {c.module for c in chunks} == {"f"}


async def test_flow_streams_inner_chunks_tagged_and_live_with_final_value() -> None:
    reader_got_first = anyio.Event()

    class Waits(ModuleBase):
        async def forward(self, x: str) -> Any:
            yield "one"
            # Only continues once the reader holds the first chunk: the flow delivers while producing.
            with anyio.fail_after(5):
                await reader_got_first.wait()
            yield "two"

    flow = al.pipeline(Waits(name="first"), lambda s: s + "!", Tokens(name="second"), lambda s: s.strip())
    seen: list[tuple[str, str]] = []
    with anyio.fail_after(5):
        async with flow.stream("go") as s:
            async for c in s:
                seen.append((c.module, str(c)))
                reader_got_first.set()
    assert seen == [("first", "one"), ("first", "two"), ("second", "onetwo! ")]
    assert s.result == "onetwo!"


async def test_parallel_branches_stream_interleaved() -> None:
    a, b = Tokens(name="a", delay=0.02), Tokens(name="b", delay=0.02)
    chunks = await al.parallel(a, b).stream("1 2 3").collect()
    modules = [c.module for c in chunks]
    assert sorted(modules) == ["a", "a", "a", "b", "b", "b"]
    assert modules[:2] != ["a", "a"] or modules[2:4] != ["a", "b"]  # not one branch after the other
    assert modules != ["a"] * 3 + ["b"] * 3


async def test_back_pressure_bounds_how_far_the_producer_runs_ahead() -> None:
    m = Tokens(name="fast")
    text = " ".join(str(i) for i in range(50))
    received = 0
    ahead: list[int] = []
    async with al.pipeline(m).stream(text, buffer=3) as s:
        async for _ in s:
            received += 1
            await anyio.sleep(0.002)  # a slow reader
            ahead.append(m.produced - received)
    assert received == 50
    # at most `buffer` queued plus the one the producer is blocked sending
    assert max(ahead) <= 3 + 1
    assert max(ahead) >= 2  # and it did run ahead


async def test_break_out_of_async_with_closes_the_producer() -> None:
    m = Tokens(name="long", delay=0.01)
    with anyio.fail_after(5):
        async with al.pipeline(m, lambda s: s).stream(" ".join("w" * 200)) as s:
            async for _ in s:
                if m.produced >= 2:
                    break
    assert m.closed and not m.completed
    assert m.produced < 10
    with pytest.raises(al.StreamError):
        _ = s.result


async def test_break_out_of_bare_leaf_iteration_closes_the_producer(anyio_backend: str) -> None:
    m = Tokens(name="leaf")
    it = m.stream("a b c d e f").__aiter__()
    async for _ in it:
        if m.produced == 2:
            break
    await it.aclose()  # deterministic close, as `async with aclosing(...)` would do
    assert m.closed and not m.completed
    # Without an explicit close, dropping the iterator finalises it: at once on asyncio; on trio
    # through trio's async-generator finaliser, which also warns (ResourceWarning) as it does
    # for every abandoned async generator. The producer is closed either way.
    m2 = Tokens(name="leaf2")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        async for _ in m2.stream("a b c d e f"):
            break
        for _ in range(50):
            if m2.closed:
                break
            await anyio.sleep(0.01)
    assert m2.closed and not m2.completed and m2.produced == 1
    kinds = {w.category for w in caught}
    assert kinds <= ({ResourceWarning} if anyio_backend == "trio" else set())


async def test_cancelling_the_reader_closes_the_producer() -> None:
    m = Tokens(name="slow", delay=0.05)
    got: list[str] = []
    outcome: list[BaseException] = []

    async def read() -> None:
        try:
            async with al.pipeline(m).stream(" ".join("x" * 100)) as s:
                async for c in s:
                    got.append(c)
        except BaseException as exc:
            outcome.append(exc)
            raise

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(read)
            while len(got) < 2:
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    assert m.closed and not m.completed
    assert isinstance(outcome[0], anyio.get_cancelled_exc_class())


async def test_producer_error_surfaces_unwrapped_from_group() -> None:
    class Breaks(ModuleBase):
        async def forward(self, x: str) -> Any:
            yield "partial"
            raise OSError("connection reset")

    got: list[str] = []
    with pytest.raises(al.ModuleExecutionError, match="connection reset") as info:
        async with al.pipeline(Breaks(name="br")).stream("x") as s:
            async for c in s:
                got.append(c)
    assert got == ["partial"] and isinstance(info.value.__cause__, OSError)
    got.clear()
    with pytest.raises(al.ModuleExecutionError, match="connection reset"):
        async for c in Breaks().stream("x"):
            got.append(c)
    assert got == ["partial"]


class Phases(al.Hook):
    log: ClassVar[list[str]] = []

    def pre(self, *args: Any, **kw: Any) -> None:
        self.log.append(f"pre {args}")

    def post(self, output: Any) -> None:
        self.log.append(f"post {output!r}")

    def on_error(self, exc: BaseException) -> None:
        self.log.append(f"error {type(exc).__name__}")

    def finalize(self) -> None:
        self.log.append("finalize")


async def test_module_with_hooks_streams_in_every_form() -> None:
    Phases.log = []
    m = Tokens(name="hooked")
    m.register_hook(Phases)
    assert [c async for c in m.stream("a b")] == ["a ", "b "]
    assert Phases.log == ["pre ('a b',)", "post 'a b '", "finalize"]
    Phases.log = []
    async with m.stream("c d") as s:
        assert [c async for c in s] == ["c ", "d "]
    assert Phases.log == ["pre ('c d',)", "post 'c d '", "finalize"] and s.result == "c d "
    # leaving a bare leaf stream early still finalizes the hooks (but no post: no full output)
    Phases.log = []
    m = Tokens(name="hooked again")
    m.register_hook(Phases)
    it = m.stream("e f g").__aiter__()
    async for _ in it:
        break
    await it.aclose()
    assert Phases.log == ["pre ('e f g',)", "finalize"] and m.closed and not m.completed


async def test_bare_iteration_over_a_flow_read_to_the_end() -> None:
    s = al.pipeline(Tokens(name="t"), str.upper).stream("k l")
    chunks = [c async for c in s]
    assert chunks == ["k ", "l "]
    assert s.result == "K L "


async def test_text_helper_and_no_leaked_tasks(anyio_backend: str) -> None:
    before = len(asyncio.all_tasks()) if anyio_backend == "asyncio" else 0
    assert await al.parallel(Tokens(name="a"), Tokens(name="b")).stream("u").text() == "u u "
    m = Tokens(delay=0.01)
    async with al.pipeline(m).stream("a b c d e f g") as s:
        async for _ in s:
            break
    if anyio_backend == "asyncio":
        assert len(asyncio.all_tasks()) == before
    assert m.closed


def test_chunk_is_a_str_with_metadata() -> None:
    c = al.Chunk("hi", module="m", tag="think")
    assert c == "hi" and c.upper() == "HI" and c.module == "m" and c.tag == "think"
    assert repr(c) == "Chunk('hi', module='m', tag='think')"
    d = al.Chunk({"tool": 1}, module="m", tag="tool_call")
    assert d == "" and d.data == {"tool": 1}


class DataChunks(al.ModuleBase):
    """Streams a text chunk, a chunk with a payload, and a payload-only chunk."""

    async def forward(self, x: Any):  # type: ignore[no-untyped-def]
        yield "hi"
        yield al.Chunk("x", tag="tool_call", data={"name": "f"})
        yield al.Chunk("", tag="event", data={"step": 2})


async def _read(stream: al.Stream) -> list[tuple[str, str, str, Any]]:
    async with stream as s:
        return [(str(c), c.module, c.tag, c.data) async for c in s]


async def test_chunks_keep_their_data_and_module_on_every_path() -> None:
    from asyncllm.serving import ServerModule

    want = [("hi", "src", "text", None), ("x", "src", "tool_call", {"name": "f"}), ("", "src", "event", {"step": 2})]
    assert [(str(c), c.module, c.tag, c.data) async for c in DataChunks(name="src").stream(1)] == want  # pulled
    assert await _read(DataChunks(name="src").stream(1)) == want  # producer task
    assert await _read(al.pipeline(DataChunks(name="src"), lambda out: out).stream(1)) == want
    assert await _read(al.parallel(DataChunks(name="src")).stream(1)) == want
    async with ServerModule(DataChunks(name="src")) as s:
        assert await _read(s.stream(1)) == want
    await al.aclose()
