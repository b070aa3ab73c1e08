"""LoRA fine-tune of a GGUF chat model (CPU, or CUDA when a GPU is visible), producing a GGUF.

The library runs this as a subprocess (``finetune.cpu_lora``; ``--device auto`` trains on CUDA
when torch sees a GPU, on the CPU otherwise)::

    python -m asyncllm.finetune._lora_cpu_worker --base-gguf BASE.gguf --data train.jsonl \\
        --out OUT_DIR --steps 14 --lr 1e-3 --lora-r 8

Route: load the GGUF with transformers (``gguf_file=``, de-quantised to float32),
wrap it with a peft LoRA, train with AdamW (``--device``), merge the adapter, then write
``OUT/model.gguf``. The merged Hugging Face model (``OUT/hf``, about twice the
GGUF's size) is only an intermediate of the converter route: it is deleted once
the GGUF is written, unless ``--keep-hf`` asks to keep it (in the patch route it
is then saved too).

GGUF conversion ("patch" route, the default): the base GGUF is copied key for key
and tensor for tensor, and only the tensors LoRA changed are replaced by the
merged weights in F16 (renamed HF -> GGUF with ``gguf.TensorNameMap`` and with
llama.cpp's Q/K row permutation re-applied). It needs only the ``gguf`` package,
keeps the base's tokenizer, chat template and untouched quantised tensors
byte-identical, and is independent of llama.cpp's converter version. With
``--converter PATH`` to llama.cpp's ``convert_hf_to_gguf.py`` (e.g. from the
llama-cpp-python sdist's ``vendor/llama.cpp``) the merged HF directory is
converted by that script instead (full F16/Q8_0 re-export).

Data: a JSON list or JSON-lines file of ``{"instruction", "input"?, "output"}``
(alpaca) or ``{"messages": [...]}`` records; the loss covers only the answer
(the last assistant turn), rendered with the model's own chat template.

stdout carries one JSON object per line for the parent: ``{"event": ...}``
milestones (``loaded`` carries ``steps``, the total; ``trained`` ends the steps),
``{"step": n, "loss": x, ...}`` per step, and last
``{"done": true, "gguf": "<path>", ...}``. On failure: ``{"done": false, "error": ...}``
and exit code 1. Human-oriented logs go to stderr.

It imports from asyncllm only the torch scripts' shared options (``deploy/_hardware.py``),
which loads nothing that ``python -m asyncllm.finetune._lora_cpu_worker`` has not already.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from asyncllm.deploy._hardware import add_torch_arguments, pick_device

# Offline and quiet before transformers is imported: engines never reach the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

DEFAULT_TARGETS = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"


def emit(**fields: Any) -> None:
    """One JSON line on stdout (the parent's progress channel)."""
    sys.stdout.write(json.dumps(fields, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- data -------------------------------------------------------------------------------------


def load_records(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise ValueError(f"{path} is empty")
    # A JSON array, else JSON lines.
    data = json.loads(text) if text[0] == "[" else [json.loads(ln) for ln in text.splitlines() if ln.strip()]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise ValueError(f"{path}: expected a list of JSON objects")
    return data


def to_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    if "messages" in record:
        messages = [{"role": str(m["role"]), "content": str(m["content"])} for m in record["messages"]]
        if not messages or messages[-1]["role"] != "assistant":
            raise ValueError("a 'messages' record must end with an assistant turn")
        return messages
    if "output" not in record:
        raise ValueError("record needs 'messages' or 'instruction'/'output'")
    prompt = str(record.get("instruction", ""))
    if record.get("input"):
        prompt = f"{prompt}\n\n{record['input']}" if prompt else str(record["input"])
    return [{"role": "user", "content": prompt}, {"role": "assistant", "content": str(record["output"])}]


def encode(tokenizer: Any, messages: list[dict[str, str]], max_len: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; labels are -100 on the prompt so only the answer is learned."""
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    if not full.startswith(prompt):
        # Templates that rewrite earlier turns: fall back to learning the whole text.
        prompt = ""
    prompt_ids: list[int] = tokenizer(prompt, add_special_tokens=False)["input_ids"] if prompt else []
    ids: list[int] = tokenizer(full, add_special_tokens=False)["input_ids"][:max_len]
    n_prompt = min(len(prompt_ids), len(ids))
    labels = [-100] * n_prompt + ids[n_prompt:]
    return ids, labels


# --- GGUF writing (patch route) -------------------------------------------------------------------


def _permute_qk(weights: Any, n_head: int) -> Any:
    # llama.cpp stores Q/K rows interleaved per rotary pair; HF keeps halves. This is
    # convert_hf_to_gguf.py's LlamaModel.permute (transformers' GGUF loader undoes it).
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def hf_to_gguf_tensors(state: dict[str, Any], config: Any, arch_name: str) -> dict[str, Any]:
    """Map HF tensors (numpy float32) to GGUF names, with the Q/K permutation applied."""
    import gguf

    arch = next(a for a, n in gguf.MODEL_ARCH_NAMES.items() if n == arch_name)
    name_map = gguf.get_tensor_name_map(arch, int(config.num_hidden_layers))
    n_head = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_head)
    out: dict[str, Any] = {}
    for hf_name, array in state.items():
        mapped = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            raise KeyError(f"no GGUF name for {hf_name}")
        if arch_name in ("llama", "mistral") and hf_name.endswith("q_proj.weight"):
            array = _permute_qk(array, n_head)
        elif arch_name in ("llama", "mistral") and hf_name.endswith("k_proj.weight"):
            array = _permute_qk(array, n_kv)
        out[mapped] = array
    return out


def patch_gguf(base: Path, out: Path, replacements: dict[str, Any]) -> None:
    """Copy ``base`` to ``out`` replacing the named tensors (written as F16)."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(base))
    arch_field = reader.fields[gguf.Keys.General.ARCHITECTURE]
    writer = gguf.GGUFWriter(str(out), arch=str(arch_field.contents()), endianess=reader.endianess)
    for field in reader.fields.values():
        # GGUFWriter writes the architecture and the GGUF.* header fields itself.
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue
        val_type = field.types[0]
        sub_type = field.types[-1] if val_type == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), val_type, sub_type=sub_type)
    missing = set(replacements) - {t.name for t in reader.tensors}
    if missing:
        raise KeyError(f"tensors not in the base GGUF: {sorted(missing)[:5]}")
    new_data: dict[str, Any] = {}
    for tensor in reader.tensors:
        if tensor.name in replacements:
            data = np.ascontiguousarray(replacements[tensor.name], dtype=np.float16)
            expected = tuple(int(d) for d in reversed(tensor.shape.tolist()))
            if data.shape != expected:
                raise ValueError(f"{tensor.name}: shape {data.shape} != base {expected}")
            new_data[tensor.name] = data
            writer.add_tensor_info(tensor.name, data.shape, data.dtype, data.nbytes, gguf.GGMLQuantizationType.F16)
        else:
            writer.add_tensor_info(
                tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes, tensor.tensor_type
            )
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in reader.tensors:
        writer.write_tensor_data(new_data.get(tensor.name, tensor.data), tensor_endianess=reader.endianess)
    writer.close()


def check_mapping(base: Path, mapped: dict[str, Any]) -> float:
    """Largest relative error between a few mapped (pre-training) tensors and the
    de-quantised base tensors: proves names and Q/K permutation before we rely on them."""
    import gguf
    import numpy as np

    reader = gguf.GGUFReader(str(base))
    by_name = {t.name: t for t in reader.tensors}
    worst = 0.0
    for name in ("blk.0.attn_q.weight", "blk.0.attn_k.weight", "blk.0.attn_v.weight"):
        if name not in by_name or name not in mapped:
            continue
        t = by_name[name]
        ref = gguf.quants.dequantize(t.data, t.tensor_type).reshape(mapped[name].shape)
        err = float(np.abs(ref - mapped[name]).max() / (np.abs(ref).max() + 1e-12))
        worst = max(worst, err)
    return worst


# --- training ---------------------------------------------------------------------------------------


def batches(examples: list[tuple[list[int], list[int]]], batch_size: int, seed: int) -> Iterator[list[int]]:
    import random

    rng = random.Random(seed)
    order: list[int] = []
    while True:
        if len(order) < batch_size:
            fresh = list(range(len(examples)))
            rng.shuffle(fresh)
            order.extend(fresh)
        yield order[:batch_size]
        del order[:batch_size]


def run(args: argparse.Namespace) -> Path:
    t_start = time.monotonic()
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    base = Path(args.base_gguf).resolve()
    out_dir = Path(args.out).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)

    records = load_records(Path(args.data))
    tokenizer = AutoTokenizer.from_pretrained(str(base.parent), gguf_file=base.name)
    model = AutoModelForCausalLM.from_pretrained(str(base.parent), gguf_file=base.name, dtype=torch.float32)
    device = pick_device(args.device)
    emit(event="loaded", seconds=round(time.monotonic() - t_start, 2), examples=len(records), steps=args.steps,
         device=device)

    import gguf

    arch_name = str(gguf.GGUFReader(str(base)).fields[gguf.Keys.General.ARCHITECTURE].contents())
    if not args.converter:
        # Prove the HF -> GGUF naming/permutation on untouched weights before training on it.
        layer0 = {
            n: t.detach().to(torch.float32).numpy()
            for n, t in model.state_dict().items()
            if n.startswith("model.layers.0.self_attn.")
        }
        err = check_mapping(base, hf_to_gguf_tensors(layer0, model.config, arch_name))
        emit(event="mapping_checked", max_rel_error=err)
        if err > 1e-2:
            raise RuntimeError(f"HF->GGUF tensor mapping check failed (max relative error {err:.3g})")

    examples = [encode(tokenizer, to_messages(r), args.max_len) for r in records]
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    targets = [t.strip() for t in args.target_modules.split(",") if t.strip()]
    lora = LoraConfig(
        r=args.lora_r,
        lora_alpha=args.lora_alpha or 2 * args.lora_r,
        lora_dropout=0.0,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )
    # Any: peft resolves merge_and_unload etc. through __getattr__, which mypy reads as Tensor.
    # Trained on the GPU when there is one (the mapping check above ran on the CPU copy).
    peft_model: Any = get_peft_model(model, lora).to(device)
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optim = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.0)
    peft_model.train()

    t_train = time.monotonic()
    feed = batches(examples, args.batch_size, args.seed)
    for step in range(1, args.steps + 1):
        idx = next(feed)
        width = max(len(examples[i][0]) for i in idx)
        ids = torch.full((len(idx), width), pad_id, dtype=torch.long)
        labels = torch.full((len(idx), width), -100, dtype=torch.long)
        mask = torch.zeros((len(idx), width), dtype=torch.long)
        for row, i in enumerate(idx):
            seq, lab = examples[i]
            ids[row, : len(seq)] = torch.tensor(seq)
            labels[row, : len(lab)] = torch.tensor(lab)
            mask[row, : len(seq)] = 1
        loss = peft_model(input_ids=ids.to(device), attention_mask=mask.to(device), labels=labels.to(device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optim.step()
        optim.zero_grad(set_to_none=True)
        emit(step=step, loss=round(float(loss.item()), 5), elapsed=round(time.monotonic() - t_train, 2))
    train_seconds = time.monotonic() - t_train

    merged = peft_model.merge_and_unload().to("cpu")  # saved and converted from host memory
    merged.eval()
    # transformers 5 tags GGUF-loaded models as "quantized with gguf" and refuses to save them,
    # although the weights were de-quantised to float32 at load. Drop the tag so the merged
    # model saves (and its config.json does not claim a quantisation it no longer has).
    merged.hf_quantizer = None
    if hasattr(merged.config, "quantization_config"):
        del merged.config.quantization_config
    emit(event="trained", train_seconds=round(train_seconds, 2))
    hf_dir = out_dir / "hf"
    if args.converter or args.keep_hf:
        merged.save_pretrained(str(hf_dir))
        tokenizer.save_pretrained(str(hf_dir))
        emit(event="merged", hf_dir=str(hf_dir))

    gguf_path = out_dir / "model.gguf"
    t_conv = time.monotonic()
    if args.converter:
        # llama.cpp's own converter, run as a script with this interpreter.
        cmd = [sys.executable, args.converter, str(hf_dir), "--outfile", str(gguf_path), "--outtype", args.outtype]
        try:
            subprocess.run(cmd, check=True, stdout=sys.stderr, stderr=sys.stderr)
        finally:
            if not args.keep_hf:
                shutil.rmtree(hf_dir, ignore_errors=True)
        route = "convert_hf_to_gguf"
    else:
        suffixes = tuple(f"{t}.weight" for t in targets)
        state = {
            name: tensor.detach().to(torch.float32).numpy()
            for name, tensor in merged.state_dict().items()
            if name.endswith(suffixes)
        }
        mapped = hf_to_gguf_tensors(state, merged.config, arch_name)
        patch_gguf(base, gguf_path, mapped)
        route = "patch"
    emit(event="converted", route=route, seconds=round(time.monotonic() - t_conv, 2))
    return gguf_path


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--base-gguf", required=True)
    parser.add_argument("--data", required=True, help="JSON/JSONL of {instruction,input,output} or {messages}")
    parser.add_argument("--out", required=True, help="output directory (model.gguf goes here)")
    parser.add_argument("--steps", type=int, default=14)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lora-r", type=int, default=8)
    parser.add_argument("--lora-alpha", type=int, default=0, help="default 2*r")
    parser.add_argument("--target-modules", default=DEFAULT_TARGETS)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--converter", default=None, help="llama.cpp convert_hf_to_gguf.py (default: patch route)")
    parser.add_argument("--outtype", default="f16", help="with --converter: f32, f16, bf16, q8_0")
    parser.add_argument("--keep-hf", action="store_true",
                        help="keep the merged Hugging Face model in OUT/hf (deleted by default; ~2x the GGUF)")
    return add_torch_arguments(parser, batch_size=4)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.monotonic()
    try:
        gguf_path = run(args)
    except Exception as exc:
        traceback.print_exc()
        emit(done=False, error=f"{type(exc).__name__}: {exc}")
        return 1
    emit(done=True, gguf=str(gguf_path), seconds=round(time.monotonic() - t0, 2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
