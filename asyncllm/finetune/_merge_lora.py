"""Merge a LoRA adapter into its base model and save the result as a plain model folder.

The last step of ``finetune.alpacalora`` and ``finetune.collie`` (the seed's ``merge_weights.py``
plus ``cp tokeniz*``), run as a subprocess so the caller's event loop never holds torch::

    python -m asyncllm.finetune._merge_lora --base BASE_DIR --adapter LORA_DIR --out MERGED_DIR \\
        [--trust-remote-code] [--device auto|cpu|cuda]

peft's ``PeftModel.from_pretrained(base, adapter).merge_and_unload()`` folds the adapter into the
weights; the model is saved as safetensors with the base's tokenizer next to it, so any engine
(vLLM, SGLang, LMDeploy, LightLLM) serves the folder as it would the base. stdout carries JSON
lines: ``{"event": "merged"}``, then ``{"done": true, "path": OUT}`` or ``{"done": false,
"error": ...}``. Self-contained (imports nothing from asyncllm).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def merge(base: str, adapter: str, out: str, *, trust_remote_code: bool, device: str) -> None:
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if device == "auto":  # a GPU merges in seconds what the CPU takes minutes for
        device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.float16 if device.startswith("cuda") else torch.float32
    model = AutoModelForCausalLM.from_pretrained(base, torch_dtype=dtype, trust_remote_code=trust_remote_code)
    model = PeftModel.from_pretrained(model.to(device), adapter).merge_and_unload()  # type: ignore[arg-type]
    model.save_pretrained(out, safe_serialization=True)
    AutoTokenizer.from_pretrained(base, trust_remote_code=trust_remote_code).save_pretrained(out)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="merge a LoRA adapter into its base model")
    p.add_argument("--base", required=True)
    p.add_argument("--adapter", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--trust-remote-code", action="store_true")
    p.add_argument("--device", default="auto")
    args = p.parse_args(argv)
    try:
        merge(args.base, args.adapter, args.out, trust_remote_code=args.trust_remote_code, device=args.device)
    except Exception as exc:  # the parent shows one line; the log keeps the traceback
        traceback.print_exc()
        emit(done=False, error=f"{type(exc).__name__}: {exc}")
        return 1
    emit(event="merged")
    emit(done=True, path=args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
