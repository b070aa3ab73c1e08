"""The GPU fine-tune/train methods the seed names, on a machine without a GPU or their projects:
``finetune.alpacalora``, ``finetune.collie``, ``train.auto``, and ``finetune.auto``'s choice.

Each command line and config is asserted exactly as the project reads it (the flags are tied to
their sources in ``asyncllm/finetune/alpacalora.py`` / ``collie.py``); running one here is a typed
refusal. The hardware probe gets its answer at its documented boundary, ``ASYNCLLM_GPU``; a
trainer is "installed" when its own command is on PATH or its checkout is configured.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

import asyncllm as al
from asyncllm import finetune
from asyncllm.finetune.alpacalora import FLAGS as ALPACA_FLAGS

pytestmark = pytest.mark.anyio

MERGE = [sys.executable, "-m", "asyncllm.finetune._merge_lora"]


@pytest.fixture(autouse=True)
def _no_gpu_no_projects(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("ASYNCLLM_GPU", "0")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))  # no llamafactory-cli
    for var in ("ASYNCLLM_ALPACA_LORA_DIR", "ASYNCLLM_COLLIE_SCRIPT"):
        monkeypatch.delenv(var, raising=False)


def _checkout(tmp_path: Path) -> Path:
    folder = tmp_path / "alpaca-lora"
    folder.mkdir()
    (folder / "finetune.py").write_text("raise SystemExit('not run in these tests')\n")
    return folder


def test_alpacalora_command_is_alpaca_loras_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = _checkout(tmp_path)
    monkeypatch.setenv("ASYNCLLM_ALPACA_LORA_DIR", str(folder))
    tuner = finetune.alpacalora(num_epochs=1, learning_rate=2e-4, lora_target_modules=["q_proj", "v_proj"],
                                val_set_size=0, train_on_inputs=False, trust_remote_code=True)
    steps = tuner.plan("/m/llama", str(tmp_path / "run"), "/d/alpaca.json")
    assert steps == [
        ([sys.executable, str(folder / "finetune.py"), "--base_model=/m/llama", "--data_path=/d/alpaca.json",
          f"--output_dir={tmp_path / 'run' / 'lora'}", "--num_epochs=1", "--learning_rate=0.0002",
          "--lora_target_modules=[q_proj,v_proj]", "--val_set_size=0", "--train_on_inputs=False"], str(folder)),
        ([*MERGE, "--base", "/m/llama", "--adapter", str(tmp_path / "run" / "lora"), "--out",
          str(tmp_path / "run" / "merged"), "--trust-remote-code"], None),
    ]
    assert tuner.result(str(tmp_path / "run")) == str(tmp_path / "run" / "merged")
    only = finetune.alpacalora(merge=False)
    assert len(only.plan("/m", str(tmp_path / "r"), "/d.json")) == 1 and only.result("/r") == "/r/lora"
    # Every flag we pass is a parameter of alpaca-lora's train(); others are refused by name.
    assert {"num_epochs", "lora_r", "cutoff_len", "prompt_template_name"} <= ALPACA_FLAGS
    with pytest.raises(al.ConfigError, match=r"does not take \['epochs'\].*num_epochs"):
        finetune.alpacalora(epochs=1).plan("/m", str(tmp_path), "/d.json")


async def test_alpacalora_without_its_checkout_or_a_gpu_is_refused(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(al.MissingDependencyError, match=r"tloen/alpaca-lora.*ASYNCLLM_ALPACA_LORA_DIR") as info:
        await finetune.alpacalora()("/m", str(tmp_path / "run"), "/d.json")
    assert "its training script" in str(info.value)
    monkeypatch.setenv("ASYNCLLM_ALPACA_LORA_DIR", str(_checkout(tmp_path)))
    # The checkout alone is not enough: its requirements (fire, datasets, bitsandbytes) are not here.
    with pytest.raises(al.MissingDependencyError, match=r"fire.*requirements\.txt"):
        await finetune.alpacalora()("/m", str(tmp_path / "run"), "/d.json")
    with pytest.raises(al.ConfigError, match="trainset"):
        await finetune.alpacalora()("/m", str(tmp_path / "run"), None)
    assert not (tmp_path / "run").exists()  # nothing was started or written


async def test_a_gpu_trainer_with_its_project_but_no_gpu_names_cpu_lora(tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # Installed as far as the check can tell (the script is there; the packages it imports are
    # claimed by a subclass that lists none): the GPU is what is missing.
    monkeypatch.setenv("ASYNCLLM_COLLIE_SCRIPT", str(_checkout(tmp_path) / "finetune.py"))

    class Installed(finetune.Collie):
        packages = ()

    with pytest.raises(al.ConfigError, match=r"needs an NVIDIA GPU.*none.*al\.finetune\.cpu_lora.*launcher="):
        await Installed()("/m", str(tmp_path / "run"), "/d.json")
    assert not (tmp_path / "run").exists()


def test_collie_command_is_the_seed_scripts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script = tmp_path / "collie" / "finetune.py"
    script.parent.mkdir()
    script.write_text("")
    monkeypatch.setenv("ASYNCLLM_COLLIE_SCRIPT", str(script))
    run = tmp_path / "run"
    one = finetune.collie(num_epochs=2, lora_r=16, lora_target_modules="[wo,wqkv]", ds_fp16=False)
    assert one.plan("/m/internlm", str(run), "/d/train.json") == [
        ([sys.executable, str(script), "--base_model=/m/internlm", f"--output_dir={run / 'lora'}",
          "--data_path=/d/train.json", "--num_epochs=2", "--lora_r=16", "--lora_target_modules=[wo,wqkv]",
          "--ds_fp16="], None),  # argparse type=bool: only an empty value is False
        ([*MERGE, "--base", "/m/internlm", "--adapter", str(run / "lora"), "--out", str(run / "merged")], None),
    ]
    # The seed's aliases, several GPUs through torchrun, and a JSON-lines trainset converted.
    many = finetune.collie(ddp=2, tp=2, merge=False)
    assert many.plan("/m", str(run), "/d/train.jsonl") == [
        ([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=4", str(script), "--base_model=/m",
          f"--output_dir={run / 'lora'}", f"--data_path={run / 'data.json'}", "--dp_size=2", "--tp_size=2"], None)]
    with pytest.raises(al.ConfigError, match=r"does not take \['lora_rank'\]"):
        finetune.collie(lora_rank=8).plan("/m", str(run), "/d.json")


async def test_collie_without_collie_names_the_install(tmp_path: Path) -> None:
    with pytest.raises(al.MissingDependencyError, match=r"pip install collie-lm.*ASYNCLLM_COLLIE_SCRIPT"):
        await finetune.collie()("/m", str(tmp_path / "run"), str(tmp_path / "d.jsonl"))


def _llamafactory_cli(tmp_path: Path) -> None:
    """A ``llamafactory-cli`` on PATH: what LlamaFactory.available() looks for."""
    cli = tmp_path / "bin" / "llamafactory-cli"
    cli.parent.mkdir(exist_ok=True)
    cli.write_text("#!/bin/sh\nexit 3\n")
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)


def test_finetune_auto_chooses_by_hardware(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # No GPU: LoRA on the CPU for a GGUF model; nothing for a Hugging Face folder.
    assert finetune.pick_finetuner("/m/model.gguf") is finetune.CpuLora
    with pytest.raises(al.ConfigError, match=r"GPU: no; llamafactory: no, alpacalora: no, collie: no"):
        finetune.pick_finetuner("/m/hf-dir")
    _llamafactory_cli(tmp_path)
    with pytest.raises(al.ConfigError, match="GPU: no; llamafactory: yes"):
        finetune.pick_finetuner("/m/hf-dir")  # installed, but no GPU
    # A GPU: the GPU trainer that is installed; GGUF stays with cpu_lora (it runs on CUDA there).
    monkeypatch.setenv("ASYNCLLM_GPU", "1")
    assert finetune.pick_finetuner("/m/hf-dir") is finetune.LlamaFactory
    assert finetune.pick_finetuner("/m/model.gguf") is finetune.CpuLora
    (tmp_path / "bin" / "llamafactory-cli").unlink()
    with pytest.raises(al.ConfigError, match="GPU: yes; llamafactory: no"):
        finetune.pick_finetuner("/m/hf-dir")


async def test_finetune_auto_runs_the_choice_with_the_launcher(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLLM_GPU", "1")
    _llamafactory_cli(tmp_path)
    data = tmp_path / "d.json"
    data.write_text("[]")
    # llamafactory is chosen and really run: our stand-in CLI exits 3, and the error says so.
    with pytest.raises(al.LifecycleError, match="exit code 3"):
        await finetune.auto(num_train_epochs=1)("/m/hf-dir", str(tmp_path / "run"), str(data))
    cfg = json.loads((tmp_path / "run" / "train.json").read_text())
    assert cfg["num_train_epochs"] == 1 and cfg["model_name_or_path"] == "/m/hf-dir"


async def test_train_auto_is_full_training_on_a_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert al.train.auto is al.train.Auto
    with pytest.raises(al.ConfigError, match=r"train\.auto trains every weight.*no.*finetune\.cpu_lora"):
        al.train.pick_trainer("/m/hf-dir")
    monkeypatch.setenv("ASYNCLLM_GPU", "1")
    with pytest.raises(al.MissingDependencyError, match="llamafactory-cli"):
        al.train.pick_trainer("/m/hf-dir")
    _llamafactory_cli(tmp_path)
    assert al.train.pick_trainer("/m/hf-dir") is finetune.LlamaFactory
    data = tmp_path / "d.json"
    data.write_text("[]")
    m = (al.TrainableModule("/m/hf-dir", str(tmp_path / "out")).train_method(al.train.auto)
         .mode("train").trainset(str(data)))
    with pytest.raises(al.LifecycleError):
        await m.update()
    (run,) = (tmp_path / "out").iterdir()
    cfg = json.loads((run / "train.json").read_text())
    assert cfg["finetuning_type"] == "full" and cfg["trust_remote_code"] is True
