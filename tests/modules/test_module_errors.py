"""Errors: one typed error naming the module, original kept as __cause__, typed errors pass
through, cancellation never wrapped."""

from __future__ import annotations

import anyio
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class Fails(ModuleBase):
    async def forward(self, x: int) -> int:
        raise KeyError(x)


class Outer(ModuleBase):
    def __init__(self) -> None:
        super().__init__(name="outer")
        self.inner = Fails(name="inner")

    async def forward(self, x: int) -> int:
        return int(await self.inner(x))


async def test_module_execution_error_names_module_and_keeps_cause() -> None:
    with pytest.raises(al.ModuleExecutionError) as info:
        await Fails(name="leaf")(3)
    err = info.value
    assert err.module == "leaf"
    assert "Fails[leaf] failed: KeyError" in str(err)
    assert isinstance(err.__cause__, KeyError) and err.__cause__.args == (3,)


async def test_nested_modules_report_innermost_and_note_the_path() -> None:
    with pytest.raises(al.ModuleExecutionError) as info:
        await Outer()(1)
    assert info.value.module == "inner"
    assert isinstance(info.value.__cause__, KeyError)
    assert any("in module outer" in n for n in info.value.__notes__)


async def test_typed_library_errors_pass_through_unwrapped() -> None:
    class RateLimited(ModuleBase):
        async def forward(self) -> None:
            raise al.RateLimitError("slow down", status_code=429)

    with pytest.raises(al.RateLimitError) as info:
        await RateLimited(name="r")()
    assert not isinstance(info.value, al.ModuleExecutionError)
    assert any("in module r" in n for n in info.value.__notes__)


async def test_flow_item_error_names_flow_and_item() -> None:
    def bad(x: int) -> int:
        raise ZeroDivisionError("nope")

    p = al.pipeline(lambda x: x, step=bad)
    with pytest.raises(al.FlowError) as info:
        await p(1)
    assert info.value.item == "step" and info.value.flow == "Pipeline"
    assert isinstance(info.value.__cause__, ZeroDivisionError)


async def test_cancellation_is_not_wrapped() -> None:
    entered = anyio.Event()
    caught: list[BaseException] = []

    class Slow(ModuleBase):
        async def forward(self) -> None:
            entered.set()
            await anyio.sleep(10)

    async def run() -> None:
        try:
            await Slow()()
        except BaseException as exc:
            caught.append(exc)
            raise

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await entered.wait()
            tg.cancel_scope.cancel()
    assert len(caught) == 1
    assert isinstance(caught[0], anyio.get_cancelled_exc_class())


async def test_cancellation_not_wrapped_through_hooks_and_flows() -> None:
    entered = anyio.Event()
    caught: list[BaseException] = []
    finalized: list[str] = []

    class Slow(ModuleBase):
        async def forward(self, x: int) -> int:
            entered.set()
            await anyio.sleep(10)
            return x

    class Fin(al.Hook):
        def finalize(self) -> None:
            finalized.append("yes")

    class AsyncFin(al.Hook):
        priority = 1

        async def finalize(self) -> None:
            await anyio.sleep(0.01)  # would be cancelled at once without the shield
            finalized.append("async")

    slow = Slow()
    slow.register_hook(Fin)
    slow.register_hook(AsyncFin)
    flow = al.pipeline(lambda x: x, al.parallel(slow, lambda x: x))

    async def run() -> None:
        try:
            await flow(1)
        except BaseException as exc:
            caught.append(exc)
            raise

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(run)
            await entered.wait()
            tg.cancel_scope.cancel()
    assert isinstance(caught[0], anyio.get_cancelled_exc_class())
    assert finalized == ["yes", "async"]  # every hook finalized (reverse order), async ones too


def test_error_tree() -> None:
    assert issubclass(al.ModuleExecutionError, al.AsyncLLMError)
    assert issubclass(al.FlowError, al.AsyncLLMError)
    assert issubclass(al.HookError, al.AsyncLLMError)
    assert issubclass(al.ConfigError, ValueError)
