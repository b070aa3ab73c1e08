"""The official ``zhipuai`` SDK (2.1.5.20250825) as the oracle for GLM (BigModel ``/api/paas/v4``).

(a) the SDK against the fake: chat, streams, embeddings, vision, the arrears error;
(b) asyncllm and the SDK make the same call; the fake's two records must agree. The SDK sends
    ``null`` for every unset parameter; the API reads it as absent (``sdk_oracle.normalized``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zhipuai
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from sdk_oracle import assert_same_request, requests_to, sdk, system_text

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

BASE = "/api/paas/v4"


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> zhipuai.ZhipuAI:
    return closing(zhipuai.ZhipuAI(api_key=KEY, base_url=fake + BASE, max_retries=0))  # type: ignore[no-any-return]


async def test_the_sdk_parses_the_fakes_answers(client: zhipuai.ZhipuAI) -> None:
    def run() -> tuple[Any, list[Any], list[float]]:
        whole = client.chat.completions.create(model="glm-4", messages=[{"role": "user", "content": "hi"}])
        chunks = list(client.chat.completions.create(model="glm-4", stream=True,
                                                     messages=[{"role": "user", "content": "one two"}]))
        vec = client.embeddings.create(model="embedding-2", input=["a b"]).data[0].embedding
        return whole, chunks, vec

    whole, chunks, vec = await sdk(run)
    assert whole.choices[0].message.content == "fake reply to: hi"
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "fake reply to: one two"
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(vec) == 8


async def test_the_sdk_reads_arrears_and_refusals(client: zhipuai.ZhipuAI) -> None:
    def call(model: str) -> Any:
        return client.chat.completions.create(model=model, messages=[{"role": "user", "content": "x"}])

    with pytest.raises(zhipuai.APIStatusError) as arrears:
        await sdk(call, "fake-chat fault=quota")
    assert arrears.value.status_code == 429 and "1113" in str(arrears.value)
    with pytest.raises(zhipuai.APIStatusError) as refused:
        await sdk(call, "fake-chat fault=blocked")
    assert refused.value.status_code == 400 and "1301" in str(refused.value)


@pytest.mark.parametrize("stream", [True, False])
async def test_chat_requests_match_the_sdk(client: zhipuai.ZhipuAI, fake: FakeServer, stream: bool) -> None:
    chat = OnlineChatModule(source="glm", model="glm-4", base_url=fake + BASE + "/", api_key=KEY, stream=stream)
    await chat.prompt("Be brief.")("hello", llm_chat_history=[["earlier", "an answer"]], top_p=0.5)

    def run() -> None:
        out = client.chat.completions.create(
            model="glm-4", stream=stream, top_p=0.5,
            messages=[{"role": "system", "content": system_text(chat, "Be brief.")},
                      {"role": "user", "content": "earlier"},
                      {"role": "assistant", "content": "an answer"}, {"role": "user", "content": "hello"}])
        if stream:
            list(out)  # type: ignore[arg-type]

    await sdk(run)
    ours, theirs = requests_to(fake, BASE + "/chat/completions")
    # stream_options: asyncllm asks for the usage chunk; the zhipuai SDK has no such parameter
    assert_same_request(ours, theirs, differ={"stream_options": "not a parameter of the zhipuai SDK"})


async def test_vision_requests_match_the_sdk(client: zhipuai.ZhipuAI, fake: FakeServer, tmp_path: Path) -> None:
    # issue #18 defect 9: the SDK strips data:image/...;base64, from inline images (drop_prefix_image_data)
    img = tmp_path / "a.png"
    img.write_bytes(b"pngdata")
    chat = OnlineChatModule(source="glm", model="glm-4v-plus", base_url=fake + BASE + "/", api_key=KEY, stream=False)
    await chat("look", lazyllm_files=[str(img)])
    data_url = "data:image/png;base64," + base64.b64encode(b"pngdata").decode()

    def run() -> None:
        client.chat.completions.create(model="glm-4v-plus", stream=False, messages=[
            {"role": "system", "content": system_text(chat)}, {"role": "user", "content": [
            {"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": data_url}}]}])

    await sdk(run)
    ours, theirs = requests_to(fake, BASE + "/chat/completions")
    assert_same_request(ours, theirs)


async def test_embedding_requests_match_the_sdk(client: zhipuai.ZhipuAI, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="glm", embed_url=fake + BASE + "/", api_key=KEY)
    await emb(["a b", "c"])
    await sdk(lambda: client.embeddings.create(model="embedding-2", input=["a b", "c"]))
    ours, theirs = requests_to(fake, BASE + "/embeddings")
    assert_same_request(ours, theirs)
