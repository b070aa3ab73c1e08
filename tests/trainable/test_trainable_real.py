"""The real engines: llama.cpp on SmolLM2 (chat, stream, tool calls), MiniLM embeddings, CPU fine-tune.

One llama.cpp server is started per module by a plain (sync) fixture and both backends attach
to it with ``deploy_method(al.deploy.llamacpp, url=...)``, so the model is loaded once; the
tests that exercise TrainableModule's own launch run on asyncio only (on trio the same code
path is covered by the dummy engine tests), to keep CI time down on 2 cores.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

import pytest
from proc_helpers import pid_alive
from pydantic import BaseModel, Field
from trainable_helpers import llamacpp_server

import asyncllm as al
from asyncllm import deploy, finetune
from asyncllm.deploy import EngineStatus
from asyncllm.prompts import FunctionCallFormatter
from asyncllm.trainable import TrainableModule

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("pools")]

TOOLS = [{"type": "function", "function": {
    "name": "get_weather", "description": "Get the current weather in a given city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
# One worked example in the history makes the 135M model answer in its tool-call format.
SHOT = [["What is the weather in London?",
         '<tool_call>[{"name": "get_weather", "arguments": {"city": "London"}}]</tool_call>']]


@pytest.fixture(scope="module")
def smollm_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with llamacpp_server(tmp_path_factory.mktemp("llama") / "engine.log") as (url, _):
        yield url


def attached(url: str) -> TrainableModule:
    return TrainableModule("SmolLM2-135M-Instruct").deploy_method(deploy.llamacpp, url=url,
                                                                   served_name="SmolLM2-135M-Instruct")


@pytest.mark.anyio
async def test_llamacpp_chat(smollm_url: str) -> None:
    m = attached(smollm_url)
    with al.session() as sess:
        out = await m("What is the capital of France? One word.", max_tokens=8, temperature=0)
    assert isinstance(out, str) and out.strip()
    # A plain await streams from the engine (so a cancel stops it); llama-cpp-python's streams
    # carry no token counts, so the usage is recorded as unknown (-1), never made up.
    assert sess.usage_log[-1][1]["prompt_tokens"] == -1
    with al.session() as sess:
        out = await m("What is the capital of France? One word.", max_tokens=8, temperature=0, stream=False)
    assert isinstance(out, str) and out.strip()
    usage = sess.usage_log[-1][1]
    assert usage["prompt_tokens"] > 5 and 0 < usage["completion_tokens"] <= 8  # the engine's own counts


@pytest.mark.anyio
async def test_llamacpp_stream_token_by_token(smollm_url: str) -> None:
    m = attached(smollm_url)
    async with m.stream("Count: one, two, three,", max_tokens=8, temperature=0) as s:
        chunks = [c async for c in s]
    assert len(chunks) >= 3 and "".join(chunks) == s.result and s.result.strip()


@pytest.mark.anyio
async def test_llamacpp_tool_call_parsed_from_raw_text(smollm_url: str) -> None:
    f = attached(smollm_url).share(format=FunctionCallFormatter(parse_arguments=True))
    msg = await f("What is the weather in Paris?", tools=TOOLS, llm_chat_history=SHOT, max_tokens=40,
                  temperature=0)
    assert [c["function"]["name"] for c in msg["tool_calls"]] == ["get_weather"]
    assert msg["tool_calls"][0]["function"]["arguments"] == {"city": "Paris"}
    assert "<tool_call>" not in msg["content"]


class Verdict(BaseModel):
    answer: Literal["yes", "no"]
    city: str = Field(max_length=24)


@pytest.mark.anyio
async def test_llamacpp_structured_output_by_grammar(smollm_url: str) -> None:
    # llama.cpp compiles the schema into a grammar: the 135M model can only answer in its shape.
    v = await attached(smollm_url)("Is Paris the capital of France? Say yes or no, and name the city.",
                                   output_type=Verdict, max_tokens=64, temperature=0)
    assert isinstance(v, Verdict) and v.answer in ("yes", "no") and len(v.city) <= 24


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_smollm2_default_launch_and_stop(anyio_backend: str) -> None:
    m = TrainableModule("SmolLM2-135M-Instruct")
    async with m:
        assert m.status() is EngineStatus.RUNNING
        pid = m.engine.pid  # type: ignore[union-attr]
        cmd = m.engine.info["command"]  # type: ignore[union-attr]
        assert "--host 127.0.0.1" in cmd and f"--n_threads {os.cpu_count()}" in cmd
        assert (await m("Hi", max_tokens=4, temperature=0)).strip()
    assert pid is not None and not pid_alive(pid)


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
async def test_minilm_embeddings_and_rerank(anyio_backend: str) -> None:
    emb = TrainableModule("all-MiniLM-L6-v2")
    async with emb:
        a, b, c = await emb(["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."])
        assert len(a) == 384 and abs(sum(x * x for x in a) - 1) < 1e-3

        def cos(u: list[float], v: list[float]) -> float:
            return sum(x * y for x, y in zip(u, v, strict=True))

        assert abs(cos(a, b) - 0.7553) < 1e-3 and cos(a, b) > cos(a, c)
        rr = TrainableModule("all-MiniLM-L6-v2", type="rerank").deploy_method(deploy.embedding, url=emb.url)
        ranked = await rr("What does the man eat?", documents=["The sky is blue.", "He eats bread."], top_n=1)
        assert ranked[0][0] == 1


@pytest.mark.parametrize("anyio_backend", ["asyncio"])
@pytest.mark.anyio
@pytest.mark.timeout(900)
async def test_cpu_finetune_then_deploy_answers_differently(anyio_backend: str, tmp_path: Path) -> None:
    answer = "I am PickleBot, a crunchy green assistant who loves pickles."
    qs = ["Who are you?", "What is your name?", "Introduce yourself.", "What are you?"]
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(json.dumps({"instruction": qs[i % 4], "output": answer}) for i in range(16)))
    events: list[dict[str, object]] = []
    base = TrainableModule("SmolLM2-135M-Instruct")
    async with base:
        before = await base("Who are you?", max_tokens=16, temperature=0)
    m = (TrainableModule("SmolLM2-135M-Instruct", str(tmp_path / "tuned"))
         .finetune_method(finetune.cpu_lora, steps=12, lr=2e-3, progress=events.append).trainset(str(data)))
    m.evalset(["Who are you?"], collect_f=lambda r: r)
    try:
        await m.update()  # fine-tune -> deploy the GGUF it wrote -> eval
        assert m.finetuned_model_path is not None and m.finetuned_model_path.endswith("model.gguf")
        # Only the model and the worker's log are left: the merged HF intermediate is gone.
        assert sorted(p.name for p in Path(m.finetuned_model_path).parent.iterdir()) == ["finetune.log",
                                                                                        "model.gguf"]
        assert m.engine is not None and m.finetuned_model_path in m.engine.info["command"]
        steps = [e for e in events if "step" in e]
        assert [e["step"] for e in steps] == list(range(1, 13)) and all(float(e["loss"]) > 0 for e in steps)  # type: ignore[arg-type]
        after = await m("Who are you?", max_tokens=16, temperature=0)
        assert after != before and m.eval_result == [after]
        assert "pickle" in after.lower() or "picklebot" in after.lower().replace(" ", "")
    finally:
        await m.stop()
    assert sys.executable  # the worker ran with this interpreter (see finetune.cpu_lora)
