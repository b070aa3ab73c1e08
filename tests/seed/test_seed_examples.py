"""Every example in the seed (``shared/seeds/lazyllm_module_docs.txt``, in the order it shows
them), translated only by ``await`` / ``async for`` / ``async with``; ``lazyllm`` is ``al``.

Engines are the dummy engine (as the seed's examples use); each test states the seed's
expected output. Examples 19-22 (online modules) are in test_seed_online_examples.py.
"""

from __future__ import annotations

import pytest

import asyncllm as al
from asyncllm import deploy, finetune

pytestmark = pytest.mark.anyio

REPLY = "reply for {}, and parameters is {{'do_sample': False, 'temperature': 0.1}}"


async def test_example_00_submodules() -> None:
    class Module(al.ModuleBase):
        pass

    class Module2(al.ModuleBase):
        def __init__(self) -> None:
            super(__class__, self).__init__()  # noqa: UP008  (the seed spells it so)
            self.m = Module()

    m = Module2()
    assert repr(m.submodules) == "[<Module type=Module>]"
    m.m3 = Module()
    assert repr(m.submodules) == "[<Module type=Module>, <Module type=Module>]"


async def test_example_01_deploy_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    class MyModule(al.ModuleBase):
        def _get_deploy_tasks(self):  # type: ignore[no-untyped-def]
            return al.pipeline(lambda: 1, lambda x: print(x))

    await MyModule().start()
    assert capsys.readouterr().out == "1\n"


async def test_example_02_train_tasks(capsys: pytest.CaptureFixture[str]) -> None:
    class MyModule(al.ModuleBase):
        def _get_train_tasks(self):  # type: ignore[no-untyped-def]
            return al.pipeline(lambda: 1, lambda x: print(x))

    await MyModule().update()
    assert capsys.readouterr().out == "1\n"


async def test_example_03_evalset_and_eval() -> None:
    class MyModule(al.ModuleBase):
        def forward(self, input):  # type: ignore[no-untyped-def]
            return "reply for input"

    m = MyModule()
    m.evalset([1, 2, 3])
    assert (await m.eval()).eval_result == ["reply for input", "reply for input", "reply for input"]


async def test_example_04_update_finetunes_deploys_and_evaluates() -> None:
    m = al.TrainableModule().deploy_method(al.deploy.dummy).finetune_method(al.finetune.dummy) \
        .trainset("").mode("finetune").prompt(None)
    m.evalset([1, 2, 3])
    try:
        await m.update()
        assert m.eval_result == [REPLY.format(i) for i in (1, 2, 3)]
    finally:
        await m.stop()


async def test_example_05_and_17_forward() -> None:
    class MyModule(al.ModuleBase):
        def forward(self, input):  # type: ignore[no-untyped-def]
            return input + 1

    assert await MyModule()(1) == 2


@pytest.mark.parametrize("how", ["start", "restart"])
async def test_examples_06_07_14_15_start_and_restart(how: str) -> None:
    for m in (al.TrainableModule().deploy_method(al.deploy.dummy).prompt(None),  # examples 06, 07
              al.TrainableModule().deploy_method(deploy.dummy)):  # examples 14, 15
        try:
            assert await getattr(m, how)() is m
            assert await m(1) == REPLY.format(1)
        finally:
            await m.stop()


async def test_example_08_finetune_then_deploy() -> None:
    m = al.TrainableModule().finetune_method(al.finetune.dummy).trainset("").deploy_method(al.deploy.dummy) \
        .mode("finetune").prompt(None)
    m.evalset([1, 2, 3])
    try:
        await m.update()
        assert m.eval_result == [REPLY.format(i) for i in (1, 2, 3)]
    finally:
        await m.stop()


@pytest.mark.parametrize("trainset", ["/file/to/path", None])
async def test_examples_09_10_12_finetune_without_deploy(trainset: str | None) -> None:
    m = al.TrainableModule().finetune_method(finetune.dummy)
    if trainset is not None:
        m = m.trainset(trainset)
    m = m.deploy_method(None).mode("finetune")
    await m.update()
    assert m.finetuned_model_path  # the dummy fine-tune ran and left its (empty) model


@pytest.mark.parametrize("mode", ["finetune", None])
async def test_examples_11_13_deploy_and_evaluate(mode: str | None) -> None:
    m = al.TrainableModule().deploy_method(deploy.dummy)
    if mode is not None:
        m = m.mode(mode)
    m.evalset([1, 2, 3])
    try:
        await m.update()
        assert m.eval_result == [REPLY.format(i) for i in (1, 2, 3)]
    finally:
        await m.stop()


async def test_example_16_server_module() -> None:
    def demo(input):  # type: ignore[no-untyped-def]
        return input * 2

    s = al.ServerModule(demo, launcher=al.launchers.empty(sync=False))
    await s.start()
    try:
        u = al.UrlModule(url=s._url)
        assert await u(1) == 2
    finally:
        await s.stop()
        await al.aclose()


async def test_example_18_trial_over_a_served_trainable_module() -> None:
    m = al.TrainableModule("b1", "t").finetune_method(finetune.dummy, **dict(a=al.Option(["f1", "f2"])))
    m.deploy_method(deploy.dummy).mode("finetune").prompt(None)
    s = al.ServerModule(m, post=lambda x, ori: f"post2({x})")
    s.evalset([1, 2, 3])
    t = al.TrialModule(s)
    try:
        results = await t.update()
    finally:
        await al.aclose()
    expected = [f"post2({REPLY.format(i)})" for i in (1, 2, 3)]
    assert [r.eval_result for r in results] == [expected, expected]
    assert [r.values for r in results] == [["f1"], ["f2"]]
