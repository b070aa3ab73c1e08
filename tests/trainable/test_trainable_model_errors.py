"""A base model that does not resolve: the resolution error (with a did-you-mean) is what the user
sees, not the engine's complaint about the bare name; a missing .gguf path never starts llama.cpp."""

from __future__ import annotations

from pathlib import Path

import pytest

import asyncllm as al

pytestmark = pytest.mark.anyio


async def test_a_mistyped_name_says_did_you_mean() -> None:
    llm = al.TrainableModule("SmolLM2-135M-Instrct")
    with pytest.raises(al.LifecycleError) as info:
        await llm.start()
    cause = info.value.__cause__
    assert isinstance(cause, al.ConfigError)
    assert "Did you mean 'SmolLM2-135M-Instruct'?" in str(cause)
    assert "no inference engine fits" not in str(cause)  # the engine's view is only a note
    assert any("no inference engine fits" in n for n in getattr(cause, "__notes__", []))
    assert llm.status() is al.deploy.EngineStatus.NOT_STARTED


async def test_a_missing_gguf_path_starts_no_engine(tmp_path: Path) -> None:
    llm = al.TrainableModule(str(tmp_path / "nope.gguf")).deploy_method(al.deploy.llamacpp)
    with pytest.raises(al.LifecycleError, match=r"model file .*nope\.gguf' does not exist"):
        await llm.start()
    assert llm.engine is None and llm.log_path() is None  # no engine process, no engine log


async def test_a_fine_tune_of_a_mistyped_name_reports_the_name(tmp_path: Path) -> None:
    data = tmp_path / "d.json"
    data.write_text('[{"instruction": "a", "output": "b"}]')
    m = (al.TrainableModule("SmolLM2-135M-Instrct", str(tmp_path / "out")).trainset(str(data))
         .finetune_method(al.finetune.cpu_lora, steps=1))
    with pytest.raises(al.LifecycleError) as info:
        await m.update()
    assert "Did you mean 'SmolLM2-135M-Instruct'?" in str(info.value.__cause__)


async def test_a_hub_name_still_reaches_an_engine_named_for_it() -> None:
    # vLLM takes hub names itself: the unresolved name is not an error before the engine says so
    # (here: vLLM is not installed, so the engine's own MissingDependencyError is what surfaces).
    llm = al.TrainableModule("Org/Model-7B").deploy_method(al.deploy.vllm)
    with pytest.raises(al.LifecycleError) as info:
        await llm.start()
    assert isinstance(info.value.__cause__, al.MissingDependencyError), info.value
