"""Golden files from the published docs of providers with no official Python SDK on PyPI
(``golden/``, one source per file): asyncllm must send the documented request, read the
documented answer, and the fake must answer in the documented shape.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from golden_replay import covers, load, names, shape

import asyncllm as al
from asyncllm._http import request_json, stream_sse
from asyncllm.online import OnlineChatModule

pytestmark = pytest.mark.anyio

# golden file → (asyncllm source, the fake's route for the same provider, the fake's model, its fault)
CASES: dict[str, tuple[str, str, str, str | None]] = {
    "minimax_reasoning_split": ("minimax", "/minimax/v1/", "fake-reasoner", None),
    "minimax_reasoning_split_stream": ("minimax", "/minimax/v1/", "fake-reasoner", None),
    "minimax_think_in_content": ("minimax", "/minimax/v1/", "fake-reasoner", None),
    "minimax_insufficient_balance": ("minimax", "/minimax/v1/", "fake-chat", "quota"),
    "minimax_input_sensitive": ("minimax", "/minimax/v1/", "fake-chat", "blocked"),
    "kimi_stream_usage": ("kimi", "/kimi/v1/", "fake-chat", None),
    "sensenova_reasoning": ("sensenova", "/sensenova/v1/", "fake-reasoner", None),
    "sensenova_reasoning_stream": ("sensenova", "/sensenova/v1/", "fake-reasoner", None),
    "vllm_reasoning_stream": ("vllm", "/vllm/v1/", "fake-reasoner", None),
}


def test_every_golden_file_has_a_case_and_a_source() -> None:
    assert sorted(CASES) == names()
    for name in names():
        g = load(name)
        assert g["source"].startswith("https://") and g["checked"] == "2026-11-30"


def _call(golden: dict[str, Any]) -> tuple[str, bool, dict[str, Any]]:
    body = golden["request"]["body"]
    params = {k: v for k, v in body.items() if k not in ("model", "messages", "stream")}
    return body["messages"][-1]["content"], bool(body.get("stream")), params


@pytest.mark.parametrize("name", list(CASES))
async def test_asyncllm_sends_the_documented_request_and_reads_the_documented_answer(fake: FakeServer,
                                                                                      name: str) -> None:
    golden = load(name)
    source = CASES[name][0]
    query, stream, params = _call(golden)
    # the documented calls send no system message: system_prompt="" drops the provider's default
    chat = OnlineChatModule(source=source, model=golden["request"]["body"]["model"], api_key=KEY, stream=stream,
                            base_url=f"{fake}/golden/{name}/", system_prompt="")
    expect = golden["expect"]
    with al.session() as sess:
        if "error" in expect:
            with pytest.raises(getattr(al, expect["error"])):
                await chat(query, **params)
            chunks: list[Any] = []
        else:
            chunks = [c async for c in chat.stream(query, **params)]
    sent = fake.state.requests[0]["body"]
    for key, value in golden["request"]["body"].items():  # every documented field, as documented
        assert sent[key] == value, key
    if "error" in expect:
        return
    assert "".join(c for c in chunks if c.tag == "text") == expect["text"]
    assert "".join(c for c in chunks if c.tag == "think").strip() == expect.get("think", "")
    if "usage" in expect:
        assert [u for _, u in sess.usage_log] == [expect["usage"]]


@pytest.mark.parametrize("name", list(CASES))
async def test_the_fake_answers_in_the_documented_shape(fake: FakeServer, name: str) -> None:
    golden = load(name)
    _, route, model, fault = CASES[name]
    body = {**golden["request"]["body"], "model": model + (f" fault={fault}" if fault else "")}
    url = f"{fake}{route}chat/completions"
    headers = {"authorization": f"Bearer {KEY}"}
    answer = golden["response"]
    if "sse" not in answer:
        data, _ = await request_json("POST", url, json=body, headers=headers)
        assert covers(shape(data), shape(answer["json"])) == []
        return
    async with stream_sse("POST", url, json=body, headers=headers) as events:
        frames = [ev.data async for ev in events]
    assert frames[-1] == "[DONE]"
    got = [shape(orjson.loads(f)) for f in frames[:-1]]
    for documented in answer["sse"][:-1]:  # each documented event has a counterpart in the fake's stream
        assert any(covers(g, shape(documented)) == [] for g in got), documented
