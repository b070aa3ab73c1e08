"""Option, OptionIter (incl. nested options) and TrialModule grid search."""

from __future__ import annotations

import copy
from typing import Any

import anyio
import pytest

import asyncllm as al
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


def test_option_choices_value_and_iteration() -> None:
    o = al.Option([1, 2, 3])
    assert o.choices == [1, 2, 3] and len(o) == 3 and o.value == 1
    assert al.Option("a", "b").choices == ["a", "b"]
    seen = []
    for v in o:
        seen.append((v, o.value))
    assert seen == [(1, 1), (2, 2), (3, 3)]
    assert o.value == 1  # iteration resets
    o.select(2)
    assert copy.deepcopy(o) == 3  # a copy is the current choice
    assert "current=3" in repr(o)
    with pytest.raises(al.ConfigError, match="at least two"):
        al.Option([1])
    with pytest.raises(al.ConfigError, match="out of range"):
        o.select(5)


def test_option_iter_cartesian_product_first_outermost() -> None:
    a, b = al.Option([1, 2]), al.Option(["x", "y", "z"])
    combos = list(al.OptionIter([a, b]))
    assert combos == [[1, "x"], [1, "y"], [1, "z"], [2, "x"], [2, "y"], [2, "z"]]
    assert a.value == 1 and b.value == "x"


def test_option_iter_nested_options() -> None:
    inner = al.Option([10, 20])
    outer = al.Option(["plain", {"k": inner}])

    def sub(choice: Any) -> list[al.Option]:
        return [v for v in choice.values() if isinstance(v, al.Option)] if isinstance(choice, dict) else []

    combos = list(al.OptionIter([outer, al.Option([True, False])], sub))
    assert combos == [
        ["plain", True], ["plain", False],
        [{"k": inner}, 10, True], [{"k": inner}, 10, False],
        [{"k": inner}, 20, True], [{"k": inner}, 20, False],
    ]


class Model(ModuleBase):
    """A tiny 'trainable' module: lr and size are Options; deploy and eval record what they saw."""

    gauge: ClassVarGauge

    def __init__(self, lr: al.Option, size: al.Option | int = 1) -> None:
        super().__init__()
        self.lr = lr
        self.train_args = {"size": size, "fixed": "yes"}
        self.deployed_with: tuple[Any, ...] | None = None

    def _get_deploy_tasks(self) -> Any:
        async def deploy() -> None:
            g = type(self).gauge
            g.now += 1
            g.max = max(g.max, g.now)
            try:
                await anyio.sleep(0.03)
                if self.lr == 0.3 and self.train_args["size"] == 2:
                    raise RuntimeError("this combination does not fit")
                self.deployed_with = (self.lr, self.train_args["size"])
            finally:
                g.now -= 1

        return deploy

    async def forward(self, x: int) -> Any:
        al.current_session().extras.setdefault("calls", []).append(x)
        return (self.lr, self.train_args["size"], x, len(al.current_session().extras["calls"]))


class ClassVarGauge:
    def __init__(self) -> None:
        self.now = 0
        self.max = 0


async def test_trial_module_grid_concurrency_isolation_and_failures() -> None:
    Model.gauge = ClassVarGauge()
    m = Model(al.Option([0.1, 0.2, 0.3]), size=al.Option([1, 2])).evalset([7, 8])
    assert len(m.options) == 2
    trial = al.TrialModule(m, concurrency=2)
    results = await trial.update()
    assert trial.results is results
    assert [r.values for r in results] == [[0.1, 1], [0.1, 2], [0.2, 1], [0.2, 2], [0.3, 1], [0.3, 2]]
    for r in results[:-1]:
        assert r.ok, r.error
        lr, size = r.values
        # each trial saw only its own values, and its own session (call counts 1 and 2)
        assert r.eval_result == [(lr, size, 7, 1), (lr, size, 8, 2)] or r.eval_result == [
            (lr, size, 7, 2), (lr, size, 8, 1)]
    bad = results[-1]
    assert not bad.ok and isinstance(bad.error, al.LifecycleError)
    assert "does not fit" in str(bad.error)
    assert Model.gauge.max == 2  # the concurrency limit held
    # the original module was not touched
    assert m.deployed_with is None and isinstance(m.lr, al.Option) and m.eval_result is None


async def test_trial_copies_are_independent_with_values_fixed() -> None:
    m = Model(al.Option([0.5, 0.6]))
    combos = al.TrialModule(m).combinations()
    assert [v for v, _ in combos] == [[0.5], [0.6]]
    copies = [c for _, c in combos]
    assert copies[0] is not copies[1] and copies[0] is not m
    assert copies[0].lr == 0.5 and copies[1].lr == 0.6
    assert copies[0].options == [] and len(m.options) == 1


async def test_trial_nested_option_of_modules() -> None:
    Model.gauge = ClassVarGauge()

    class Holder(ModuleBase):
        def __init__(self, inner: al.Option) -> None:
            super().__init__()
            self.inner = inner

        async def forward(self, x: int) -> Any:
            return (await self.inner(x), self.inner.deployed_with)

    a = Model(al.Option([1, 2]))
    b = Model(0.9)
    h = Holder(al.Option([a, b])).evalset([0])
    results = await al.TrialModule(h, concurrency=3).update()
    assert [r.values[1:] for r in results] == [[1], [2], []]
    assert [r.eval_result[0][0][:2] for r in results] == [(1, 1), (2, 1), (0.9, 1)]
    # the chosen module became a real submodule of the copy: the trial deployed it
    assert [r.eval_result[0][1] for r in results] == [(1, 1), (2, 1), (0.9, 1)]


async def test_trial_module_config_errors() -> None:
    with pytest.raises(al.ConfigError):
        al.TrialModule(42)  # type: ignore[arg-type]
    with pytest.raises(al.ConfigError):
        al.TrialModule(Model(al.Option([1, 2])), concurrency=0)
