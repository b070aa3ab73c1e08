"""What a user can find after long local work: the engine start on the progress display, the tuned
model's path on the module and on every TrialResult (dummy fine-tune and engine: real processes,
no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncllm as al
from asyncllm import _progress, deploy, finetune
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_an_engine_start_is_on_the_display(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_progress, "DELAY", 0.0)
    async with TrainableModule("my-model").deploy_method(deploy.dummy) as m:
        assert await m("x")
    err = capsys.readouterr().err
    assert "asyncllm: starting dummy (my-model) [" in err and ", done]" in err


async def test_each_trial_says_where_its_tuned_model_is(tmp_path: Path) -> None:
    m = (TrainableModule("my-model", str(tmp_path / "out")).deploy_method(deploy.dummy)
         .finetune_method(finetune.dummy, lr=al.Option([1, 2])).trainset(str(tmp_path / "data.json")))
    m.evalset(["q"])
    results = await al.TrialModule(m).update()
    assert all(r.ok for r in results), results
    paths = [r.model_path for r in results]
    assert all(p is not None and Path(p).parent == tmp_path / "out" and Path(p).name.startswith("data-")
               for p in paths), paths
    assert len(set(paths)) == 2  # one directory per trial
    assert repr(results[0]).endswith(f", error=None, model_path={paths[0]!r})")
    assert m.finetuned_model_path is None  # the trials tuned copies, not m


async def test_a_module_says_where_its_tuned_model_is(tmp_path: Path) -> None:
    m = (TrainableModule("my-model", "rel/out").deploy_method(deploy.dummy)
         .finetune_method(finetune.dummy).trainset("data.json"))
    with al.config.override(train_target_root=str(tmp_path)):
        await m.update()
    try:
        assert m.finetuned_model_path is not None
        assert Path(m.finetuned_model_path).parent == tmp_path / "rel" / "out"
    finally:
        await m.stop()
