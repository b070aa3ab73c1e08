"""ModuleBase: calling, registration of submodules/Options, identity, repr, for_each, builders."""

from __future__ import annotations

from typing import Any

import pytest

import asyncllm as al
from asyncllm._exceptions import ConfigError
from asyncllm.modules.base import ModuleBase

pytestmark = pytest.mark.anyio


class AddOne(ModuleBase):
    async def forward(self, x: int) -> int:
        return x + 1


class Echo(ModuleBase):
    async def forward(self, *args: Any, **kw: Any) -> Any:
        return args, kw


async def test_await_call_runs_forward() -> None:
    assert await AddOne()(1) == 2


async def test_forward_not_implemented_names_the_class() -> None:
    with pytest.raises(al.ModuleExecutionError, match="must implement") as info:
        await ModuleBase()(1)
    assert isinstance(info.value.__cause__, NotImplementedError)


async def test_kwargs_package_becomes_keyword_arguments() -> None:
    args, kw = await Echo()(al.kwargs(a=1, b=2), c=3)
    assert args == ()
    assert kw == {"a": 1, "b": 2, "c": 3}
    args, kw = await Echo()(al.kwargs(a=1), 5)
    assert args == (5,) and kw == {"a": 1}


def test_package_and_kwargs_types() -> None:
    assert al.package(1, 2) == (1, 2)
    assert al.package([1, 2]) == (1, 2)
    assert al.package((1, 2)) == (1, 2)
    assert repr(al.package(1)) == "package(1,)"
    assert repr(al.kwargs(a=1)) == "kwargs({'a': 1})"


class Tree(ModuleBase):
    def __init__(self) -> None:
        super().__init__(name="root")
        self.a = AddOne(name="a")
        self.b = Echo(name="b")
        self.lr = al.Option([1e-4, 1e-3])
        self.finetune_args = {"epochs": al.Option([1, 2, 3]), "fixed": 7}


def test_submodules_and_options_registered() -> None:
    t = Tree()
    assert [m.name for m in t.submodules] == ["a", "b"]
    assert [o.choices for o in t.options] == [[1e-4, 1e-3], [1, 2, 3]]


def test_reassignment_replaces_registration() -> None:
    t = Tree()
    new_a = AddOne(name="a2")
    t.a = new_a
    assert [m.name for m in t.submodules] == ["a2", "b"]
    t.b = 5  # a plain value takes the submodule's place
    assert [m.name for m in t.submodules] == ["a2"]
    t.lr = al.Option([1, 2])
    t.finetune_args = {"epochs": 3}
    assert [o.choices for o in t.options] == [[1, 2]]
    t.lr = 0.1
    assert t.options == []
    del t.a
    assert t.submodules == []


def test_same_module_twice_listed_once_and_options_recursive() -> None:
    t = Tree()
    t.c = t.a
    assert len(t.submodules) == 2
    inner = Tree()
    t.inner = inner
    assert len(t.options) == 4  # own two + inner's two, each once
    t.inner2 = inner
    assert len(t.options) == 4


def test_option_only_on_annotated_parameter() -> None:
    class Takes(ModuleBase):
        def __init__(self, lr: al.Option, other: int = 0) -> None:
            super().__init__()
            self.lr = lr

    assert len(Takes(al.Option([1, 2])).options) == 1
    with pytest.raises(ConfigError, match="annotate the parameter"):
        Takes(1, other=al.Option([1, 2]))  # type: ignore[arg-type]


def test_for_each_depth_first_over_submodules() -> None:
    t = Tree()
    t.inner = Tree()
    t.inner.name = "inner"
    seen: list[str | None] = []
    t.for_each(lambda m: isinstance(m, ModuleBase), lambda m: seen.append(m.name))
    assert seen == ["a", "b", "inner", "a", "b"]
    only_add: list[str | None] = []
    t.for_each(lambda m: isinstance(m, AddOne), lambda m: only_add.append(m.name))
    assert only_add == ["a", "a"]


def test_identity_name_and_id() -> None:
    a, b = AddOne(), AddOne()
    assert a.id != b.id and len(a.id) == 32
    assert a.id == a.id
    c = AddOne(id="fixed", name="nm")
    assert c.id == "fixed" and c.name == "nm" and c.display_name == "nm"
    assert a.name is None and a.display_name == "AddOne"
    assert a.used_by("parent") is a
    assert a._used_by_moduleid == "parent"


def test_repr_shows_the_tree() -> None:
    t = Tree()
    t.inner = Tree()
    assert repr(t).splitlines() == [
        "<Module type=Tree name=root>",
        "├─ <Module type=AddOne name=a>",
        "├─ <Module type=Echo name=b>",
        "└─ <Module type=Tree name=root>",
        "   ├─ <Module type=AddOne name=a>",
        "   └─ <Module type=Echo name=b>",
    ]


def test_builders_set_values_and_args() -> None:
    class Trainable(ModuleBase):
        builder_keys = ("deploy_method", "prompt")
        hooked = 0

        def _deploy_setter_hook(self) -> None:
            self.hooked += 1

    t = Trainable()
    assert t._deploy is None and t._deploy_args == {}
    assert t.deploy_method("vllm", port=1) is t
    assert t._deploy == "vllm" and t._deploy_args == {"port": 1} and t.hooked == 1
    t.deploy_method(("x", {"a": 1}), b=2)
    assert t._deploy == "x" and t._deploy_args == {"a": 1, "b": 2}
    t.deploy_method("lite", lr=al.Option([1, 2]))
    assert len(t.options) == 1
    with pytest.raises(AttributeError):
        _ = t.nothing_here


async def test_module_subclass_without_super_init_still_registers() -> None:
    class NoSuper(ModuleBase):
        def __init__(self) -> None:
            self.child = AddOne()

        async def forward(self, x: int) -> int:
            return int(await self.child(x))

    m = NoSuper()
    assert len(m.submodules) == 1
    assert await m(1) == 2
