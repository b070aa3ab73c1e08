"""The seed's hook interface, under the seed's name: ``al.LazyLLMHook`` with ``pre_hook``,
``post_hook`` and ``report``, constructed with the hooked object; seed-style hook classes and
objects that do not inherit it; and a ConfigError at registration for what is not a hook."""

from __future__ import annotations

from typing import Any

import pytest

import asyncllm as al

pytestmark = pytest.mark.anyio


class Double(al.ModuleBase):
    async def forward(self, x: int) -> int:
        if x < 0:
            raise ValueError("negative")
        return x * 2


def recorder(log: list[str], tag: str, priority: int = 100) -> type[al.LazyLLMHook]:
    class Recorder(al.LazyLLMHook):
        def __init__(self, obj: Any) -> None:
            super().__init__(obj)
            self.seen_obj = obj

        def pre_hook(self, *args: Any, **kw: Any) -> None:
            log.append(f"{tag}.pre{args}{kw}:{type(self.seen_obj).__name__}")

        async def post_hook(self, output: Any) -> None:  # phases may be async
            log.append(f"{tag}.post({output})")

        def report(self) -> None:
            log.append(f"{tag}.report")

    Recorder.priority = priority
    return Recorder


async def test_lazyllm_hook_classes_run_each_phase_in_the_seeds_order() -> None:
    log: list[str] = []
    m = Double()
    m.register_hook(recorder(log, "b", priority=20))
    m.register_hook(recorder(log, "a", priority=10))
    assert await m(3) == 6
    assert log == ["a.pre(3,){}:Double", "b.pre(3,){}:Double", "b.post(6)", "a.post(6)", "a.report", "b.report"]
    log.clear()
    with pytest.raises(al.ModuleExecutionError):
        await m(-1)
    assert log == ["a.pre(-1,){}:Double", "b.pre(-1,){}:Double"]  # no post_hook or report after a failure


async def test_a_registered_instance_is_copied_per_call() -> None:
    class Counter(al.LazyLLMHook):
        def __init__(self, obj: Any = None) -> None:
            super().__init__(obj)
            self.calls = 0

        def pre_hook(self, *args: Any, **kw: Any) -> None:
            self.calls += 1

        def report(self) -> None:
            assert self.calls == 1  # each call has its own copy

    proto = Counter()
    m = Double()
    m.register_hook(proto)
    assert [await m(i) for i in range(3)] == [0, 2, 4]
    assert proto.calls == 0


async def test_seed_style_hooks_that_do_not_inherit_run_too() -> None:
    log: list[str] = []

    class SeedHook:  # exactly what LazyLLM accepts: any class with these methods
        def __init__(self, obj: Any) -> None:
            self.obj = obj

        def pre_hook(self, x: int) -> None:
            log.append(f"pre {x}")

        def post_hook(self, output: int) -> None:
            log.append(f"post {output}")

        def report(self) -> None:
            log.append("report")

    class OnOurBase(al.Hook):  # our base, the seed's phase names
        def pre_hook(self, x: int) -> None:
            log.append(f"ours {x}")

    m = Double()
    m.register_hook(SeedHook)
    m.register_hook(OnOurBase)
    assert await m(4) == 8
    assert log == ["pre 4", "ours 4", "post 8", "report"]


async def test_error_mode_raise_aborts_the_call() -> None:
    class Strict(al.LazyLLMHook):
        error_mode = "raise"

        def pre_hook(self, *args: Any, **kw: Any) -> None:
            raise RuntimeError("refused")

    m = Double()
    m.register_hook(Strict)
    with pytest.raises(al.HookError, match="refused"):
        await m(1)


def test_what_is_not_a_hook_is_refused_at_registration() -> None:
    class NotAHook:
        def run(self) -> None: ...

    m = Double()
    with pytest.raises(al.ConfigError, match="LazyLLMHook"):
        m.register_hook(NotAHook)
    with pytest.raises(al.ConfigError, match="LazyLLMHook"):
        m.register_hook(42)
