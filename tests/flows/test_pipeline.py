"""pipeline: chaining, package/kwargs conventions, kwargs routing, named items and capture,
auto-instantiated classes, callables of every colour."""

from __future__ import annotations

import threading
import time
from typing import Any

import anyio
import anyio.lowlevel
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class AddOne(ModuleBase):
    async def forward(self, x: int) -> int:
        return x + 1


async def test_architecture_example() -> None:
    p = al.pipeline(AddOne, lambda x: x * 2, al.parallel(AddOne(), AddOne()).sum)
    assert await p(1) == 10
    assert isinstance(p.items[0], AddOne)  # the class was instantiated
    assert p.submodules[0] is p.items[0]


async def test_sync_async_and_thread_items() -> None:
    loop_thread = threading.get_ident()
    threads: list[int] = []

    async def coro(x: int) -> int:
        await anyio.lowlevel.checkpoint()
        return x + 10

    def inline(x: int) -> int:
        threads.append(threading.get_ident())
        return x * 2

    def blocking(x: int) -> int:
        threads.append(threading.get_ident())
        time.sleep(0.2)
        return x - 1

    p = al.pipeline(coro, inline, al.to_thread(blocking))
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await anyio.sleep(0.01)
            ticks += 1

    async with anyio.create_task_group() as tg:
        tg.start_soon(ticker)
        assert await p(1) == 21
        tg.cancel_scope.cancel()
    assert threads[0] == loop_thread
    assert threads[1] != loop_thread  # to_thread really ran in a worker
    assert ticks >= 5  # the loop kept running while the blocking step slept
    assert repr(al.to_thread(blocking)).startswith("to_thread(")
    with pytest.raises(TypeError):
        al.to_thread(42)  # type: ignore[arg-type]


async def test_package_output_is_splatted_kwargs_output_is_keyword() -> None:
    p = al.pipeline(lambda x: al.package(x, x + 1), lambda a, b: al.kwargs(a=a, b=b), lambda *, a, b: a * 10 + b)
    assert await p(1) == 12


async def test_several_inputs_are_packed_and_nested_flow_gets_package_whole() -> None:
    inner = al.pipeline(lambda a, b: a + b)
    p = al.pipeline(inner, lambda s: s * 2)
    assert await p(2, 3) == 10
    assert await al.pipeline(lambda: "none")() == "none"
    assert await al.pipeline(lambda x: x)(al.kwargs(x=4)) == 4


async def test_kwargs_go_to_first_item_only() -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []

    def first(x: int, **kw: Any) -> int:
        calls.append((x, kw))
        return x

    def second(x: int, **kw: Any) -> int:
        calls.append((x, kw))
        return x

    await al.pipeline(first, second)(1, k="v")
    assert calls == [(1, {"k": "v"}), (1, {})]


async def test_named_items_and_capture() -> None:
    p = al.pipeline(lambda x: x, double=lambda x: x * 2)
    assert p.double(3) == 6
    with al.pipeline() as q:
        q.first = AddOne
        q.second = lambda x: x * 3
        with al.parallel() as q.par:
            q.par.a = lambda x: x
            q.par.b = AddOne()
        q.total = lambda a, b: a + b
    q.not_an_item = 5  # capture ended with the block
    assert len(q) == 4 and q.not_an_item == 5
    assert isinstance(q.first, AddOne)
    assert await q(1) == 6 + 7
    with pytest.raises(al.ConfigError, match="already has an item named"):
        al.pipeline(a=lambda x: x)._add_item("a", lambda x: x)


async def test_bad_item_is_a_clear_error() -> None:
    with pytest.raises(al.ConfigError, match="not callable"):
        al.pipeline(1)


async def test_repr_shows_flow_tree() -> None:
    def step(x: int) -> int:
        return x

    p = al.pipeline(AddOne(name="one"), al.parallel(step, AddOne), name_me=step)
    lines = repr(p).splitlines()
    assert lines[0] == "<Flow type=Pipeline items=3>"
    assert lines[1] == "├─ <Module type=AddOne name=one>"
    assert lines[2] == "├─ <Flow type=Parallel items=2>"
    assert lines[3].endswith("<Function test_repr_shows_flow_tree.<locals>.step>")
    assert lines[4] == "│  └─ <Module type=AddOne>"
    assert lines[5].startswith("└─ name_me: <Function")


async def test_nested_flows_of_modules() -> None:
    p = al.pipeline(AddOne, al.pipeline(AddOne, al.pipeline(AddOne)), AddOne)
    assert await p(0) == 4


class Fails(ModuleBase):
    async def forward(self, x: int) -> int:
        raise ValueError(f"bad {x}")


class Records(ModuleBase):
    """Opens the caller's session itself (``al.current_session()`` binds one), then reports usage
    into it as a provider client does."""

    async def forward(self, x: int) -> int:
        from asyncllm._context import record_usage

        al.current_session()
        record_usage(self.id, {"prompt_tokens": x, "completion_tokens": 1}, self._used_by_moduleid)
        return x


async def test_module_items_follow_the_module_call_rules() -> None:
    """A pipeline awaits a plain module item's forward itself (no call coroutine a step): what
    the call would do still happens — errors, notes, hooks added later, overridden ``__call__``,
    usage popped when the item opened the session."""
    # a subclass's own __call__ is honoured
    class Loud(AddOne):
        async def __call__(self, *args: Any, **kw: Any) -> Any:
            return -1

    assert await al.pipeline(AddOne(), Loud())(0) == -1

    # errors: what the pipeline raises is what calling the item raises
    with pytest.raises(al.ModuleExecutionError) as direct:
        await Fails(name="f")(1)
    with pytest.raises(al.ModuleExecutionError) as piped:
        await al.pipeline(AddOne(), Fails(name="f"))(0)
    assert str(piped.value) == str(direct.value) == "Fails[f] failed: ValueError: bad 1"
    assert piped.value.module == "f" and isinstance(piped.value.__cause__, ValueError)

    # a hook registered on an item after the pipeline was built runs
    seen: list[Any] = []

    class Hook(al.LazyLLMHook):
        def pre_hook(self, *args: Any, **kw: Any) -> None:
            seen.append(args)

    second = AddOne()
    p = al.pipeline(AddOne(), second)
    assert await p(0) == 2
    second.register_hook(Hook)
    assert await p(0) == 2 and seen == [(1,)]

    # usage: the item that opened the session has its entry popped, as a direct call does
    async def run_in_fresh_context(flow: Any) -> Any:
        async with anyio.create_task_group() as tg:  # a task: its own context
            out: list[Any] = []

            async def go() -> None:
                from asyncllm._context import _session

                _session.set(None)  # (the calls with a hook above opened one in the test's context)
                out.append(await flow(3))
                out.append(al.current_session())

            tg.start_soon(go)
        return out

    rec = Records()
    value, sess = await run_in_fresh_context(al.pipeline(rec, AddOne()))
    assert value == 4
    assert sess.usage == {} and [m for m, _ in sess.usage_log] == [rec.id]


def test_package_and_kwargs_cannot_be_subclassed() -> None:
    """Flows tell a package or kwargs from other values by exact type (the call path's cheapest
    check), so a subclass would quietly be passed as one value: it is refused where it is made."""
    for base, fix in ((al.package, "package(a, b)"), (al.kwargs, "kwargs(k=v)")):
        with pytest.raises(TypeError, match=rf"{base.__name__} cannot be subclassed") as info:
            type("Mine", (base,), {})
        assert fix in str(info.value)
