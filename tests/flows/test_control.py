"""switch, ifs and loop."""

from __future__ import annotations

from typing import Any

import anyio
import anyio.lowlevel
import pytest

import asyncllm as al

pytestmark = pytest.mark.anyio


async def test_switch_first_matching_case_callable_or_value() -> None:
    async def is_big(x: int) -> bool:
        await anyio.lowlevel.checkpoint()
        return x > 100

    sw = al.switch(lambda x: x < 0, lambda x: "neg", 0, lambda x: "zero", is_big, lambda x: "big",
                   "default", lambda x: f"other {x}")
    assert [await sw(v) for v in (-5, 0, 500, 7)] == ["neg", "zero", "big", "other 7"]


async def test_switch_without_default_raises_when_nothing_matches() -> None:
    sw = al.switch(1, lambda x: "one")
    assert await sw(1) == "one"
    with pytest.raises(al.ConfigError, match="no case matched 2 and there is no 'default' case"):
        await sw(2)
    with pytest.raises(al.ConfigError, match="pairs"):
        al.switch(1, lambda x: x, 2)


async def test_switch_judge_on_key_only() -> None:
    sw = al.switch("add", lambda a, b: a + b, "mul", lambda a, b: a * b, judge_on_full_input=False)
    assert await sw("add", 2, 3) == 5
    assert await sw("mul", 2, 3) == 6
    with pytest.raises(al.ConfigError, match="package"):
        await sw("add")


async def test_switch_kwargs_reach_the_chosen_path() -> None:
    sw = al.switch(lambda x: True, lambda x, k: (x, k))
    assert await sw(1, k=2) == (1, 2)


async def test_ifs() -> None:
    f = al.ifs(lambda x: x % 2 == 0, lambda x: f"even {x}", al.pipeline(lambda x: x * 3, lambda x: f"odd*3 {x}"))
    assert await f(4) == "even 4"
    assert await f(3) == "odd*3 9"
    with pytest.raises(al.ConfigError):
        al.ifs(True, lambda x: x, lambda x: x)  # type: ignore[arg-type]


async def test_loop_count_and_stop_condition() -> None:
    seen: list[int] = []

    def step(x: int) -> int:
        seen.append(x)
        return x + 1

    assert await al.loop(step, count=5)(0) == 5
    assert seen == [0, 1, 2, 3, 4]
    assert await al.loop(lambda x: x * 2, stop_condition=lambda x: x > 100)(1) == 128
    # the stop condition ends the loop before count when it becomes true first
    assert await al.loop(step, count=10, stop_condition=lambda x: x == 3)(0) == 3
    # a multi-item body, judged on the first element of a package
    body = al.loop(lambda a, b: al.package(a + 1, b * 2), stop_condition=lambda a: a >= 3, judge_on_full_input=False)
    assert await body(0, 1) == (3, 8)


async def test_loop_requires_an_end() -> None:
    with pytest.raises(al.ConfigError, match="never end"):
        al.loop(lambda x: x)
    with pytest.raises(al.ConfigError, match=">= 1"):
        al.loop(lambda x: x, count=0)


async def test_loop_kwargs_go_to_first_round_only() -> None:
    calls: list[dict[str, Any]] = []

    def step(x: int, **kw: Any) -> int:
        calls.append(kw)
        return x + 1

    assert await al.loop(step, count=3)(0, k=1) == 3
    assert calls == [{"k": 1}, {}, {}]
