"""Lifecycle: start/update/update_server/eval/restart/stop/wait, ordering, once-only deploys,
failure handling, evalset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class Rec(ModuleBase):
    """Records every lifecycle task it runs into a shared event list."""

    def __init__(self, name: str, events: list[str], *children: ModuleBase, deploy_delay: float = 0.0) -> None:
        super().__init__(name=name)
        self.events = events
        self.deploy_delay = deploy_delay
        self.deploys = 0
        self.stops = 0
        for i, c in enumerate(children):
            setattr(self, f"c{i}", c)

    async def forward(self, x: Any) -> Any:
        self.events.append(f"call {self.name}")
        return x

    def _get_train_tasks(self) -> Any:
        return lambda: self.events.append(f"train {self.name}")

    def _get_deploy_tasks(self) -> Any:
        async def deploy() -> None:
            self.events.append(f"deploy> {self.name}")
            await anyio.sleep(self.deploy_delay)
            self.deploys += 1
            self.events.append(f"deploy< {self.name}")

        return [deploy]

    def _get_post_process_tasks(self) -> Any:
        return lambda: self.events.append(f"post {self.name}")

    async def _stop_impl(self) -> None:
        self.stops += 1
        self.events.append(f"stop {self.name}")


def tree(events: list[str]) -> tuple[Rec, Rec]:
    shared = Rec("shared", events)
    a = Rec("a", events, shared, deploy_delay=0.02)
    b = Rec("b", events, shared)
    return Rec("root", events, a, b), shared


async def test_update_order_train_deploy_eval_post_each_module_once() -> None:
    events: list[str] = []
    root, _ = tree(events)
    root.evalset([1, 2])
    assert await root.update() is root
    trains = [e for e in events if e.startswith("train")]
    assert sorted(trains) == ["train a", "train b", "train root", "train shared"]
    i_last_train = max(events.index(t) for t in trains)
    deploys = [e for e in events if e.startswith("deploy")]
    assert min(events.index(d) for d in deploys) > i_last_train
    # children finish deploying before their parents begin
    done = {e[len("deploy< "):]: events.index(e) for e in deploys if e.startswith("deploy<")}
    begun = {e[len("deploy> "):]: events.index(e) for e in deploys if e.startswith("deploy>")}
    assert done["shared"] < begun["a"] and done["shared"] < begun["b"]
    assert done["a"] < begun["root"] and done["b"] < begun["root"]
    assert len(deploys) == 8  # each module deployed once although "shared" is reached twice
    posts = [e for e in events if e.startswith("post")]
    assert posts == ["post shared", "post a", "post b", "post root"]
    calls = [i for i, e in enumerate(events) if e == "call root"]
    assert len(calls) == 2  # the evalset ran: after every deploy, before any post-process
    assert max(events.index(d) for d in deploys) < min(calls) and max(calls) < events.index(posts[0])
    assert root.eval_result == [1, 2]


async def test_deploys_run_concurrently() -> None:
    events: list[str] = []
    slow = [Rec(f"s{i}", events, deploy_delay=0.2) for i in range(5)]
    root = Rec("root", events, *slow)
    with anyio.fail_after(0.9):  # five 0.2 s deploys, well under their sum
        await root.start()
    assert all(s.deploys == 1 for s in slow)


async def test_deploy_once_until_stop_and_restart_really_restarts() -> None:
    events: list[str] = []
    root, shared = tree(events)
    await root.start()
    await root.start()
    await root.update_server()
    assert shared.deploys == 1 and root.deploys == 1
    await root.stop()
    assert [e for e in events if e.startswith("stop")] == ["stop root", "stop b", "stop a", "stop shared"]
    await root.restart()
    assert shared.deploys == 2 and root.deploys == 2 and root.stops == 2
    await root.restart()
    assert shared.deploys == 3 and shared.stops == 3
    await root.stop()


async def test_async_with_starts_and_stops() -> None:
    events: list[str] = []
    root, shared = tree(events)
    async with root as entered:
        assert entered is root and shared.deploys == 1 and shared.stops == 0
        assert await root(5) == 5
    assert shared.stops == 1 and root.stops == 1


async def test_async_with_stops_on_error() -> None:
    events: list[str] = []
    root, shared = tree(events)
    with pytest.raises(RuntimeError):
        async with root:
            raise RuntimeError("body failed")
    assert shared.stops == 1


async def test_one_failing_deploy_cancels_others_and_stops_the_started() -> None:
    events: list[str] = []
    cancelled: list[str] = []

    class Hangs(Rec):
        def _get_deploy_tasks(self) -> Any:
            async def deploy() -> None:
                self.events.append(f"deploy> {self.name}")
                try:
                    await anyio.sleep(30)
                except anyio.get_cancelled_exc_class():
                    cancelled.append(self.name or "")
                    raise

            return deploy

    class Fails(Rec):
        def _get_deploy_tasks(self) -> Any:
            async def deploy() -> None:
                await anyio.sleep(0.05)
                raise OSError("port in use")

            return deploy

    ok = Rec("ok", events)
    hang = Hangs("hang", events)
    bad = Fails("bad", events)
    root = Rec("root", events, ok, hang, bad)
    with anyio.fail_after(5), pytest.raises(al.LifecycleError, match="deploy of bad") as info:
        await root.start()
    assert isinstance(info.value.__cause__, OSError)
    assert cancelled == ["hang"]
    assert ok.stops == 1 and hang.stops == 1  # started ones were stopped
    assert root.deploys == 0 and root.stops == 0  # never began: waits for its children
    assert not ok._deployed and not hang._deployed
    # a later start tries again from scratch
    root.c1 = Rec("no longer hangs", events)
    root.c2 = Rec("fixed", events)
    with anyio.fail_after(5):
        await root.start()
    assert ok.deploys == 2 and root.deploys == 1


async def test_post_process_always_runs_and_eval_only() -> None:
    events: list[str] = []
    root, _ = tree(events)
    root.evalset([3])
    await root.eval()
    assert not any(e.startswith(("train", "deploy")) for e in events)
    assert [e for e in events if e.startswith("post")] == ["post shared", "post a", "post b", "post root"]
    assert root.eval_result == [3]


async def test_non_recursive_update_touches_only_self() -> None:
    events: list[str] = []
    root, shared = tree(events)
    await root.update(recursive=False)
    assert shared.deploys == 0 and root.deploys == 1
    assert "train shared" not in events


async def test_invalid_mode_is_a_clear_error() -> None:
    events: list[str] = []
    root, _ = tree(events)
    with pytest.raises(al.ConfigError, match="unknown lifecycle mode 'deploy'; choose from train, server, eval"):
        await root._update(mode="deploy")
    assert events == []


async def test_train_failure_is_lifecycle_error() -> None:
    class BadTrain(Rec):
        def _get_train_tasks(self) -> Any:
            def train() -> None:
                raise ValueError("no data")

            return train

    events: list[str] = []
    root = Rec("root", events, BadTrain("bt", events), Rec("other", events))
    with pytest.raises(al.LifecycleError, match="train of bt") as info:
        await root.update()
    assert isinstance(info.value.__cause__, ValueError)
    assert not any(e.startswith("deploy") for e in events)


async def test_wait_waits_for_every_module() -> None:
    done: list[str] = []

    class Runs(ModuleBase):
        def __init__(self, n: str, delay: float, *children: ModuleBase) -> None:
            super().__init__(name=n)
            self.delay = delay
            for i, c in enumerate(children):
                setattr(self, f"c{i}", c)

        async def _wait_impl(self) -> None:
            await anyio.sleep(self.delay)
            done.append(self.name or "")

    root = Runs("root", 0.01, Runs("a", 0.05), Runs("b", 0.02))
    assert await root.wait() is root
    assert sorted(done) == ["a", "b", "root"]


class Slow(ModuleBase):
    def __init__(self) -> None:
        super().__init__()
        self.in_flight = 0
        self.max_in_flight = 0

    async def forward(self, x: int, y: int = 0) -> int:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        await anyio.sleep(0.01 * (x % 3))  # finish out of order
        self.in_flight -= 1
        return x * 10 + y


async def test_evalset_bounded_concurrency_order_kept_and_collect() -> None:
    m = Slow().evalset(list(range(20)), concurrency=4)
    await m.eval()
    assert m.eval_result == [x * 10 for x in range(20)]
    assert m.max_in_flight == 4
    m2 = Slow().evalset([{"x": 1, "y": 2}, {"x": 2}], collect_f=sum)
    await m2.update()
    assert m2.eval_result == 12 + 20


async def test_evalset_from_file_with_load_f(tmp_path: Path) -> None:
    path = tmp_path / "eval.json"
    path.write_text(json.dumps([1, 2, 3]))
    m = Slow().evalset(str(path), load_f=json.load)
    await m.eval()
    assert m.eval_result == [10, 20, 30]
    with pytest.raises(al.ConfigError, match="pass load_f"):
        Slow().evalset(str(path))
    with pytest.raises(al.ConfigError, match="concurrency"):
        Slow().evalset([1], concurrency=0)


async def test_evalset_item_failure_surfaces_typed() -> None:
    class Picky(ModuleBase):
        async def forward(self, x: int) -> int:
            if x == 2:
                raise ValueError("two")
            return x

    m = Picky(name="picky").evalset([1, 2, 3])
    with pytest.raises(al.ModuleExecutionError, match="two"):
        await m.eval()


async def test_action_module_discovers_modules_through_nested_flows() -> None:
    events: list[str] = []
    a, b, c = Rec("a", events), Rec("b", events), Rec("c", events)
    act = al.ActionModule(al.pipeline(a, al.parallel(b, al.pipeline(lambda x: x, c)), lambda *xs: sum(xs)))
    assert {m.name for m in act.submodules} == {"a", "b", "c"}
    async with act:
        assert a.deploys == b.deploys == c.deploys == 1
        assert await act(2) == 4
    assert a.stops == b.stops == c.stops == 1
    fn_act = al.ActionModule(lambda x: x + 1, lambda x: x * 3)
    assert await fn_act(1) == 6
    assert repr(fn_act).startswith("<Module type=ActionModule")
    with pytest.raises(TypeError):
        al.ActionModule()


async def test_flow_start_deploys_every_module_inside() -> None:
    events: list[str] = []
    a, b = Rec("a", events), Rec("b", events)
    flow = al.pipeline(a, al.parallel(b, b))
    assert await flow.start() is flow
    assert a.deploys == 1 and b.deploys == 1
    await flow.stop()
    assert a.stops == b.stops == 1
