"""parallel / diverter / warp: results in branch order, post-processing, kwargs to every
branch, limits, failure and cancellation semantics, no leaked tasks."""

from __future__ import annotations

import asyncio
import functools
import operator
from typing import Any

import anyio
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class Gauge:
    """Counts how many calls are in flight at once."""

    def __init__(self) -> None:
        self.now = 0
        self.max = 0

    async def run(self, x: Any, delay: float = 0.01) -> Any:
        self.now += 1
        self.max = max(self.max, self.now)
        try:
            await anyio.sleep(delay)
        finally:
            self.now -= 1
        return x


async def test_branch_order_kept_though_finishing_out_of_order() -> None:
    done: list[int] = []

    def branch(i: int, delay: float) -> Any:
        async def run(x: int) -> int:
            await anyio.sleep(delay)
            done.append(i)
            return x + i

        return run

    p = al.parallel(branch(0, 0.05), branch(1, 0.0), branch(2, 0.02))
    out = await p(10)
    assert isinstance(out, al.package) and out == (10, 11, 12)
    assert done == [1, 2, 0]


async def test_branches_run_concurrently() -> None:
    g = Gauge()
    with anyio.fail_after(1):
        await al.parallel(*[lambda x: g.run(x, 0.1) for _ in range(10)])(1)
    assert g.max == 10


async def test_post_processors() -> None:
    assert await al.parallel(lambda x: x, lambda x: x * 2).sum(3) == 9
    assert await al.parallel(lambda x: x, lambda x: x + 1).join("-")(1) == "1-2"
    assert await al.parallel(lambda x: "a", lambda x: "b").join()(0) == "ab"
    assert await al.parallel(a=lambda x: x, b=lambda x: -x).asdict(2) == {"a": 2, "b": -2}
    assert await al.parallel(lambda x: x, lambda x: x).astuple(1) == (1, 1)
    out = await al.parallel(lambda x: x, lambda x: x).aslist(1)
    assert out == [1, 1] and type(out) is list
    with pytest.raises(al.ConfigError, match="every branch named"):
        _ = al.parallel(lambda x: x, b=lambda x: x).asdict


async def test_skip_and_keep_by_index_and_name() -> None:
    ran: list[str] = []

    def mark(tag: str) -> Any:
        def f(x: int) -> str:
            ran.append(tag)
            return tag

        return f

    p = al.parallel(a=mark("a"), b=mark("b"), c=mark("c")).skip("b")
    assert await p(0) == ("a", "c")
    assert sorted(ran) == ["a", "b", "c"]  # skipped branches still run
    assert await al.parallel(a=mark("a"), b=mark("b"), c=mark("c")).keep(2, "a")(0) == ("a", "c")
    assert await al.parallel(a=mark("a"), b=mark("b")).skip(0).asdict(0) == {"b": "b"}
    with pytest.raises(al.ConfigError, match="no item named 'zz'"):
        al.parallel(a=mark("a")).skip("zz")


async def test_sequential_runs_one_at_a_time() -> None:
    g = Gauge()
    order: list[int] = []

    def branch(i: int) -> Any:
        async def run(x: int) -> int:
            await g.run(x)
            order.append(i)
            return i

        return run

    p = al.parallel(*[branch(i) for i in range(4)]).sequential
    assert await p(0) == (0, 1, 2, 3)
    assert g.max == 1 and order == [0, 1, 2, 3]


async def test_limit_bounds_in_flight() -> None:
    g = Gauge()
    p = al.parallel(*[g.run for _ in range(12)]).limit(3)
    assert await p(7) == (7,) * 12
    assert g.max == 3
    g2 = Gauge()
    assert await al.parallel(*[g2.run for _ in range(6)], _limit=2)(1) == (1,) * 6
    assert g2.max == 2
    with pytest.raises(al.ConfigError):
        al.parallel(g.run).limit(0)


async def test_kwargs_go_to_every_branch() -> None:
    p = al.parallel(lambda x, k: (x, k), lambda x, k: (k, x))
    assert await p(1, k=2) == ((1, 2), (2, 1))


async def test_package_input_is_splatted_into_each_branch() -> None:
    assert await al.parallel(lambda a, b: a + b, lambda a, b: a * b)(2, 5) == (7, 10)


async def test_first_failure_cancels_siblings() -> None:
    sibling_cancelled = anyio.Event()
    started = anyio.Event()

    async def slow(x: int) -> int:
        started.set()
        try:
            await anyio.sleep(10)
        except anyio.get_cancelled_exc_class():
            sibling_cancelled.set()
            raise
        return x

    async def fails(x: int) -> int:
        await started.wait()
        raise ValueError("branch broke")

    with anyio.fail_after(5), pytest.raises(al.FlowError, match="branch broke") as info:
        await al.parallel(slow, fails, slow)(1)
    assert sibling_cancelled.is_set()
    assert isinstance(info.value.__cause__, ValueError)
    assert info.value.item == "#1 test_first_failure_cancels_siblings.<locals>.fails"


async def test_cancelling_the_flow_cancels_everything_under_it() -> None:
    cancelled: list[str] = []
    entered = 0
    all_in = anyio.Event()

    def branch(tag: str) -> Any:
        async def run(x: int) -> int:
            nonlocal entered
            entered += 1
            if entered == 4:
                all_in.set()
            try:
                await anyio.sleep(10)
            except anyio.get_cancelled_exc_class():
                cancelled.append(tag)
                raise
            return x

        return run

    class Leaf(ModuleBase):
        async def forward(self, x: int) -> int:
            return int(await branch("module")(x))

    flow = al.pipeline(lambda x: x, al.parallel(branch("a"), al.pipeline(branch("nested")), al.warp(Leaf), branch("b")))
    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(flow, 1)
            await all_in.wait()
            tg.cancel_scope.cancel()
    assert sorted(cancelled) == ["a", "b", "module", "nested"]


async def test_a_stopped_branch_finishes_its_shielded_work() -> None:
    """A branch is stopped the way a task group stops it, through its cancel scope: work it
    shields (closing a stream, stopping a process, a commit) runs to the end, whether a sibling
    failed or the caller was cancelled. (A native ``task.cancel()`` breaks into the shield.)"""
    done: list[str] = []
    inside = anyio.Event()

    async def shields(x: int) -> int:
        with anyio.CancelScope(shield=True):
            inside.set()
            await anyio.sleep(0.05)
            done.append("committed")
        await anyio.sleep(10)
        return x

    async def fails(x: int) -> int:
        await inside.wait()
        raise ValueError("broke")

    with anyio.fail_after(5):
        with pytest.raises(al.FlowError, match="broke"):
            await al.parallel(shields, fails)(1)
        assert done == ["committed"]
        inside = anyio.Event()
        async with anyio.create_task_group() as tg:
            tg.start_soon(al.parallel(shields, shields), 1)
            await inside.wait()
            tg.cancel_scope.cancel()
    assert done == ["committed"] * 3


def live_tasks(backend: str) -> int:
    """Tasks alive now: every asyncio task, or on trio the tasks in the root's nurseries."""
    if backend == "asyncio":
        return len(asyncio.all_tasks())
    import trio

    def count(task: Any) -> int:
        return 1 + sum(count(t) for n in task.child_nurseries for t in n.child_tasks)

    return count(trio.lowlevel.current_root_task())


async def test_no_leaked_tasks_after_failure_and_cancel(anyio_backend: str) -> None:
    before = live_tasks(anyio_backend)

    async def fails(x: int) -> int:
        await anyio.sleep(0.05)
        raise RuntimeError("x")

    async def slow(x: int) -> int:
        await anyio.sleep(10)
        return x

    peak = 0

    async def watch(x: int) -> int:
        nonlocal peak
        peak = max(peak, live_tasks(anyio_backend))  # every branch task is spawned by now
        await anyio.sleep(0.005)
        return x

    for _ in range(3):
        with pytest.raises(al.FlowError):
            await al.parallel(slow, slow, watch, fails, al.warp(slow))(1)
        with anyio.move_on_after(0.02):
            await al.parallel(*[slow] * 20, watch).limit(5)(1)
    assert peak > before  # the counter does see branch tasks while they run
    assert live_tasks(anyio_backend) == before


async def test_diverter_routes_input_i_to_branch_i() -> None:
    d = al.diverter(lambda x: x + 1, lambda x: x * 2, al.pipeline(lambda a, b: a - b))
    assert await d(1, 5, al.package(9, 4)) == (2, 10, 5)
    with pytest.raises(al.ConfigError, match="3 branches but got 2 inputs"):
        await d(1, 2)


async def test_warp_runs_one_pipeline_over_every_input() -> None:
    g = Gauge()
    w = al.warp(lambda x: x * 2, g.run)
    assert await w(1, 2, 3) == (2, 4, 6)
    assert g.max == 3
    g2 = Gauge()
    assert await al.warp(g2.run, _limit=2)(*range(8)) == tuple(range(8))
    assert g2.max == 2
    assert await al.warp(lambda x: x).sum(1, 2, 3) == 6
    assert await al.warp(lambda x, k: x + k)(1, 2, k=10) == (11, 12)


async def test_1000_branches() -> None:
    p = al.parallel(*[functools.partial(operator.add, i) for i in range(1000)]).sum
    assert await p(0) == sum(range(1000))
