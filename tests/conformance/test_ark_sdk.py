"""The official Volcengine Ark SDK (``volcengine-ark-runtime`` 5.0.54) as the oracle for Doubao
(``/api/v3``).

(a) the SDK against the fake: chat, streams with usage, embeddings, multimodal embeddings, the
    arrears and content-filter errors;
(b) asyncllm and the SDK make the same call; the fake's two records must agree. The SDK sends
    ``null`` for every unset parameter; the API reads it as absent (``sdk_oracle.normalized``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from sdk_oracle import assert_same_request, requests_to, sdk, system_text
from volcenginesdkarkruntime import Ark
from volcenginesdkarkruntime._exceptions import ArkAPIStatusError

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

BASE = "/api/v3"


@pytest.fixture
def client(fake: FakeServer, closing: Callable[[Any], Any]) -> Ark:
    return closing(Ark(api_key=KEY, base_url=fake + BASE, max_retries=0))  # type: ignore[no-any-return]


async def test_the_sdk_parses_the_fakes_answers(client: Ark) -> None:
    def run() -> tuple[Any, list[Any], Any, Any]:
        whole = client.chat.completions.create(model="doubao-x", messages=[{"role": "user", "content": "hi"}])
        chunks = list(client.chat.completions.create(model="doubao-x", stream=True,
                                                     stream_options={"include_usage": True},
                                                     messages=[{"role": "user", "content": "one two"}]))
        vec = client.embeddings.create(model="doubao-embedding", input=["a b"])
        mm = client.multimodal_embeddings.create(model="doubao-embedding-vision",
                                                 input=[{"type": "text", "text": "a cat"}])
        return whole, chunks, vec, mm

    whole, chunks, vec, mm = await sdk(run)
    assert whole.choices[0].message.content == "fake reply to: hi"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "fake reply to: one two"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert len(vec.data[0].embedding) == 8 and len(mm.data.embedding) == 8


@pytest.mark.parametrize(("fault", "status", "code"), [("quota", 403, "AccountOverdueError"),
                                                       ("blocked", 400, "InputTextRiskDetection")])
async def test_the_sdk_reads_the_fakes_errors(client: Ark, fault: str, status: int, code: str) -> None:
    def run() -> Any:
        return client.chat.completions.create(model=f"fake-chat fault={fault}",
                                              messages=[{"role": "user", "content": "x"}])

    with pytest.raises(ArkAPIStatusError) as info:
        await sdk(run)
    assert info.value.status_code == status and info.value.code == code


@pytest.mark.parametrize("stream", [True, False])
async def test_chat_requests_match_the_sdk(client: Ark, fake: FakeServer, stream: bool) -> None:
    chat = OnlineChatModule(source="doubao", model="doubao-x", base_url=fake + BASE + "/", api_key=KEY, stream=stream)
    await chat.prompt("Be brief.")("hello", llm_chat_history=[["earlier", "an answer"]], max_tokens=100)
    kw: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}

    def run() -> None:
        out = client.chat.completions.create(
            model="doubao-x", stream=stream, max_tokens=100,
            messages=[{"role": "system", "content": system_text(chat, "Be brief.")},
                      {"role": "user", "content": "earlier"},
                      {"role": "assistant", "content": "an answer"}, {"role": "user", "content": "hello"}], **kw)
        if stream:
            list(out)  # type: ignore[arg-type]

    await sdk(run)
    ours, theirs = requests_to(fake, BASE + "/chat/completions")
    assert_same_request(ours, theirs, headers=["content-type"])


async def test_embedding_requests_match_the_sdk(client: Ark, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="doubao", embed_url=fake + BASE + "/", api_key=KEY)
    await emb(["a b", "c"])
    await sdk(lambda: client.embeddings.create(model="doubao-embedding-text-240715", input=["a b", "c"]))
    ours, theirs = requests_to(fake, BASE + "/embeddings")
    # the SDK always names the float encoding, which is the API's default
    assert_same_request(ours, theirs, differ={"encoding_format": "float is the default"})


async def test_multimodal_embedding_requests_match_the_sdk(client: Ark, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="doubao", type="multimodal_embed", embed_url=fake + BASE + "/",
                                api_key=KEY)
    await emb({"text": "a cat", "image": "https://x.test/cat.png"})
    await sdk(lambda: client.multimodal_embeddings.create(
        model="doubao-embedding-vision-241215",
        input=[{"type": "text", "text": "a cat"}, {"type": "image_url", "image_url": {"url": "https://x.test/cat.png"}}]))
    ours, theirs = requests_to(fake, BASE + "/embeddings/multimodal")
    assert_same_request(ours, theirs, differ={"encoding_format": "float is the default"})
