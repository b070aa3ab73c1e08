"""The official ``openai`` SDK's ``AzureOpenAI`` client (3.57.0) as the oracle for Azure OpenAI:
deployment URLs, ``api-version``, the ``api-key`` header and Entra ID tokens.

(a) the client against the fake: chat, stream, embeddings, with a key and with a token provider;
(b) asyncllm and the client make the same call; the fake's two records must agree.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from sdk_oracle import assert_same_request, requests_to, sdk, system_text

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

VERSION = "2024-10-21"
TOKEN = "entra-token-fake"


@pytest.fixture
def azure(fake: FakeServer, closing: Callable[[Any], Any]) -> Callable[..., openai.AzureOpenAI]:
    fake.state.keys.add(TOKEN)

    def make(**kw: Any) -> openai.AzureOpenAI:
        auth = kw if kw else {"api_key": KEY}
        return closing(openai.AzureOpenAI(azure_endpoint=fake, api_version=VERSION, max_retries=0, **auth))
    return make


async def test_the_client_parses_the_fakes_answers(azure: Callable[..., openai.AzureOpenAI]) -> None:
    c = azure()
    t = azure(azure_ad_token_provider=lambda: TOKEN)

    def run() -> tuple[Any, list[Any], Any, Any]:
        whole = c.chat.completions.create(model="my-dep", messages=[{"role": "user", "content": "hi"}])
        chunks = list(c.chat.completions.create(model="my-dep", messages=[{"role": "user", "content": "a b"}],
                                                stream=True, stream_options={"include_usage": True}))
        emb = c.embeddings.create(model="emb-dep", input=["a"], encoding_format="float")
        by_token = t.chat.completions.create(model="my-dep", messages=[{"role": "user", "content": "t"}])
        return whole, chunks, emb, by_token

    whole, chunks, emb, by_token = await sdk(run)
    assert whole.choices[0].message.content == "fake reply to: hi"
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices) == "fake reply to: a b"
    assert chunks[-1].usage is not None
    assert len(emb.data[0].embedding) == 8
    assert by_token.choices[0].message.content == "fake reply to: t"


@pytest.mark.parametrize("stream", [True, False])
@pytest.mark.parametrize("auth", ["key", "token"])
async def test_chat_requests_match_the_client(azure: Callable[..., openai.AzureOpenAI], fake: FakeServer,
                                              stream: bool, auth: str) -> None:
    kw: dict[str, Any] = {"api_key": KEY} if auth == "key" else {"azure_ad_token_provider": lambda: TOKEN}
    chat = OnlineChatModule(source="azure", base_url=fake, model="my-dep", api_version=VERSION, stream=stream, **kw)
    await chat.prompt("Be brief.")("hello", temperature=0.2)
    c = azure(**kw)
    extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if stream else {}

    def run() -> None:
        out = c.chat.completions.create(model="my-dep", stream=stream, temperature=0.2, **extra,
                                        messages=[{"role": "system", "content": system_text(chat, "Be brief.")},
                                                  {"role": "user", "content": "hello"}])
        if stream:
            list(out)  # type: ignore[arg-type]

    await sdk(run)
    ours, theirs = requests_to(fake, "/openai/deployments/my-dep/chat/completions")[-2:]
    assert_same_request(ours, theirs, headers=["content-type"])
    assert ours["query"] == theirs["query"] == {"api-version": VERSION}
    assert ("api-key" in ours["headers"]) is False  # recorded without secrets; the key tag says which was sent


async def test_embedding_requests_match_the_client(azure: Callable[..., openai.AzureOpenAI],
                                                   fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="azure", embed_url=fake, embed_model_name="emb-dep", api_key=KEY,
                                api_version=VERSION)
    await emb(["a", "b c"])
    await sdk(lambda: azure().embeddings.create(model="emb-dep", input=["a", "b c"], encoding_format="float"))
    ours, theirs = requests_to(fake, "/openai/deployments/emb-dep/embeddings")[-2:]
    assert_same_request(ours, theirs, differ={"encoding_format": "float is the API's default; we leave it out"})
    assert ours["query"] == theirs["query"]
