"""Where the engines and the LoRA fine-tune run: on a GPU when there is one, on the CPU otherwise.

This machine has no GPU, so the CPU side runs for real here (the LoRA worker's device choice, the
embedding engine's in ``test_embed_server.py``); the GPU side is the command each one gets when
the hardware probe answers "yes" through its documented override ``ASYNCLLM_GPU``, and the
llama.cpp build flags ``scripts/setup.sh`` picks. ``tests/gpu/`` runs them on a real GPU.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from asyncllm import deploy, finetune

REPO = Path(__file__).resolve().parents[2]


def _argv(**opts: object) -> list[str]:
    return deploy.llamacpp(**opts).command("/m/model.gguf", 8080, None)


def test_llamacpp_offloads_every_layer_on_a_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASYNCLLM_GPU", "1")
    argv = _argv()
    assert argv[argv.index("--n_gpu_layers") + 1] == "-1"
    explicit = _argv(gpu_layers=10)  # the seed-style alias, or n_gpu_layers=, sets another count
    assert explicit[explicit.index("--n_gpu_layers") + 1] == "10"
    cpu_only = _argv(n_gpu_layers=0)
    assert cpu_only[cpu_only.index("--n_gpu_layers") + 1] == "0"
    monkeypatch.setenv("ASYNCLLM_GPU", "0")
    assert "--n_gpu_layers" not in _argv()


def test_cpu_lora_passes_the_device_on() -> None:
    tuner = finetune.cpu_lora(device="cpu", steps=2)
    argv = tuner.command("/m/b.gguf", "/d.jsonl", "/out")
    assert argv[argv.index("--device") + 1] == "cpu"
    assert "--device" not in finetune.cpu_lora().command("/m/b.gguf", "/d.jsonl", "/out")  # the worker's auto


@pytest.mark.skipif(any(__import__("importlib").util.find_spec(m) is None for m in ("torch", "peft", "gguf")),
                    reason="needs the 'finetune' extra")
def test_lora_worker_picks_the_cpu_without_a_gpu() -> None:
    code = ("from asyncllm.deploy._hardware import pick_device\n"
            "print(pick_device('auto'))\n"
            "try:\n    pick_device('cuda')\nexcept RuntimeError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO), "CUDA_VISIBLE_DEVICES": ""}).stdout
    auto, refusal = out.splitlines()[:2]
    assert auto == "cpu"
    assert "no CUDA GPU" in refusal and "--device cpu" in refusal


def _tool(folder: Path, name: str) -> None:
    path = folder / name
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(("tools", "forced", "cuda"), [
    ((), "", False), (("nvcc",), "", False),  # the toolkit without a GPU driver: a CUDA build would not import
    (("nvcc", "nvidia-smi"), "", True), (("nvcc", "nvidia-smi"), "0", False), ((), "1", True)])
def test_setup_builds_llama_cpp_with_cuda_where_it_can(tmp_path: Path, tools: tuple[str, ...], forced: str,
                                                       cuda: bool) -> None:
    for name in tools:
        _tool(tmp_path, name)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "HOME": str(tmp_path)}
    if forced:
        env["ASYNCLLM_LLAMA_CUDA"] = forced
    out = subprocess.run(["bash", str(REPO / "scripts" / "setup.sh"), "llama-cmake-args"], env=env,
                         capture_output=True, text=True, check=True, timeout=30).stdout.split()
    assert out == ["-DGGML_NATIVE=OFF", "-DGGML_CUDA=on"] if cuda else out == ["-DGGML_NATIVE=OFF"]
