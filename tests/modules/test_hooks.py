"""Hooks: phase order, priorities, sync/async phases, per-call copies, function hooks, error modes."""

from __future__ import annotations

from typing import Any, ClassVar

import anyio
import anyio.lowlevel
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase
from asyncllm.modules.hooks import Hook

pytestmark = pytest.mark.anyio


class Double(ModuleBase):
    async def forward(self, x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return x * 2


class Boom(ModuleBase):
    async def forward(self, x: int) -> int:
        raise ValueError(f"bad {x}")


def recording_hook(log: list[str], tag: str, prio: int, *, async_phases: bool = False) -> type[Hook]:
    if async_phases:

        class AsyncRec(Hook):
            priority = prio

            async def pre(self, *args: Any, **kw: Any) -> None:
                await anyio.lowlevel.checkpoint()
                log.append(f"pre {tag} {args}")

            async def post(self, output: Any) -> None:
                log.append(f"post {tag} {output}")

            async def on_error(self, exc: BaseException) -> None:
                log.append(f"error {tag} {type(exc).__name__}")

            async def finalize(self) -> None:
                log.append(f"final {tag}")

        return AsyncRec

    class Rec(Hook):
        priority = prio

        def pre(self, *args: Any, **kw: Any) -> None:
            log.append(f"pre {tag} {args}")

        def post(self, output: Any) -> None:
            log.append(f"post {tag} {output}")

        def on_error(self, exc: BaseException) -> None:
            log.append(f"error {tag} {type(exc).__name__}")

        def finalize(self) -> None:
            log.append(f"final {tag}")

    return Rec


async def test_pre_by_priority_rest_reversed_sync_and_async() -> None:
    log: list[str] = []
    m = Double()
    m.register_hook(recording_hook(log, "late", 200))
    m.register_hook(recording_hook(log, "early", 10, async_phases=True)())  # instance, async phases
    m.register_hook(recording_hook(log, "mid", 100))
    assert await m(3) == 6
    assert log == [
        "pre early (3,)", "pre mid (3,)", "pre late (3,)",
        "post late 6", "post mid 6", "post early 6",
        "final late", "final mid", "final early",
    ]


async def test_on_error_reversed_then_finalize_and_error_wrapped() -> None:
    log: list[str] = []
    m = Boom(name="boom")
    m.register_hook(recording_hook(log, "a", 1))
    m.register_hook(recording_hook(log, "b", 2, async_phases=True))
    with pytest.raises(al.ModuleExecutionError) as info:
        await m(1)
    assert isinstance(info.value.__cause__, ValueError)
    assert log == ["pre a (1,)", "pre b (1,)", "error b ValueError",
                   "error a ValueError", "final b", "final a"]


async def test_hook_class_instantiated_per_call_with_module() -> None:
    made: list[Any] = []

    class Counting(Hook):
        def __init__(self, module: ModuleBase | None = None) -> None:
            super().__init__(module)
            made.append(self)

    m = Double()
    m.register_hook(Counting)
    await m(1)
    await m(2)
    assert len(made) == 2 and made[0] is not made[1]
    assert all(h.module is m for h in made)


async def test_hook_instance_copied_per_call_no_state_leak_across_50_concurrent_calls() -> None:
    seen: list[tuple[int, list[int]]] = []

    class Stateful(Hook):
        def __init__(self) -> None:
            super().__init__()
            self.inputs: list[int] = []

        async def pre(self, x: int) -> None:
            self.inputs.append(x)
            await anyio.sleep(0.01)  # let the other 49 calls interleave

        def post(self, output: int) -> None:
            self.inputs.append(output)
            seen.append((id(self), list(self.inputs)))

    proto = Stateful()
    m = Double()
    m.register_hook(proto)
    results: dict[int, int] = {}

    async def call(i: int) -> None:
        results[i] = await m(i)

    async with anyio.create_task_group() as tg:
        for i in range(50):
            tg.start_soon(call, i)
    assert results == {i: 2 * i for i in range(50)}
    assert proto.inputs == []  # the registered instance is never used directly
    assert len({hid for hid, _ in seen}) == 50  # a distinct copy per call
    assert sorted(tuple(v) for _, v in seen) == [(i, 2 * i) for i in range(50)]


async def test_instance_copy_keeps_module_reference_not_a_clone() -> None:
    got: list[Any] = []

    class Peek(Hook):
        def pre(self, *args: Any, **kw: Any) -> None:
            got.append(self.module)

    m = Double()
    m.register_hook(Peek(m))
    m.register_hook(Peek())
    await m(1)
    assert got == [m, m] and all(g is m for g in got)


async def test_function_hooks_plain_and_generator_and_async_generator() -> None:
    log: list[str] = []

    def plain(x: int) -> None:
        log.append(f"plain {x}")

    def gen(x: int) -> Any:
        log.append(f"gen pre {x}")
        out = yield
        log.append(f"gen post {out}")

    async def agen(x: int) -> Any:
        log.append(f"agen pre {x}")
        out = yield
        log.append(f"agen post {out}")

    m = Double()
    m.register_hook(plain)
    m.register_hook(gen)
    handle = m.register_hook(agen)
    m.register_hook(plain)  # deduplicated
    assert await m(4) == 8
    assert log == ["plain 4", "gen pre 4", "agen pre 4", "agen post 8", "gen post 8"]
    log.clear()
    handle.remove()
    m.unregister_hook(gen)
    await m(1)
    assert log == ["plain 1"]
    m.clear_hooks()
    log.clear()
    await m(1)
    assert log == []


class Raising(Hook):
    error_mode: ClassVar[Any] = "raise"
    phase = "pre"

    def pre(self, *args: Any, **kw: Any) -> None:
        if self.phase == "pre":
            raise RuntimeError("pre broke")

    def post(self, output: Any) -> None:
        if self.phase == "post":
            raise RuntimeError("post broke")

    def finalize(self) -> None:
        if self.phase == "finalize":
            raise RuntimeError("finalize broke")


@pytest.mark.parametrize("phase", ["pre", "post", "finalize"])
async def test_error_mode_raise_gives_hook_error(phase: str) -> None:
    calls: list[int] = []

    class Counted(ModuleBase):
        async def forward(self, x: int) -> int:
            calls.append(x)
            return x

    hook = type("R", (Raising,), {"phase": phase})
    m = Counted()
    m.register_hook(hook)
    with pytest.raises(al.HookError) as info:
        await m(1)
    assert info.value.phase == phase
    assert isinstance(info.value.__cause__, RuntimeError)
    assert calls == ([] if phase == "pre" else [1])


async def test_error_mode_warn_logs_and_goes_on(caplog: pytest.LogCaptureFixture) -> None:
    class Warn(Hook):
        def post(self, output: Any) -> None:
            raise RuntimeError("post broke quietly")

    m = Double()
    m.register_hook(Warn)
    with caplog.at_level("WARNING", logger="asyncllm.hooks"):
        assert await m(2) == 4
    assert "post broke quietly" in caplog.text


async def test_register_hook_rejects_non_hooks() -> None:
    with pytest.raises(al.ConfigError):
        Double().register_hook(42)


async def test_hooks_on_flows_too() -> None:
    log: list[str] = []
    p = al.pipeline(Double, lambda x: x + 1)
    p.register_hook(recording_hook(log, "flow", 1))
    assert await p(2) == 5
    assert log == ["pre flow (2,)", "post flow 5", "final flow"]
