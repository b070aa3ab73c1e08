"""Embedding, multimodal embedding and rerank providers against the fake provider."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeprovider.embed import score, vector
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from fakeprovider.state import SENSENOVA_AK, SENSENOVA_SK

import asyncllm as al
from asyncllm.online import OnlineEmbeddingModule, OnlineEmbeddingModuleBase, OnlineRerankModuleBase

pytestmark = pytest.mark.anyio

# source → (embed_url under the fake, path the request must reach, extra kwargs)
EMBED: dict[str, tuple[str, str, dict[str, Any]]] = {
    "openai": ("/v1/", "/v1/embeddings", {}),
    "glm": ("/api/paas/v4/", "/api/paas/v4/embeddings", {}),
    "doubao": ("/api/v3/", "/api/v3/embeddings", {}),
    "siliconflow": ("/v1/", "/v1/embeddings", {}),
    "sensenova": ("/sensenova/v1/", "/sensenova/v1/llm/embeddings",
                  {"api_key": f"{SENSENOVA_AK}:{SENSENOVA_SK}"}),
    "qwen": ("/", "/api/v1/services/embeddings/text-embedding/text-embedding", {}),
    "openai_compatible": ("/v1/embeddings", "/v1/embeddings", {}),
}

RERANK: dict[str, tuple[str, str]] = {
    "qwen": ("/", "/api/v1/services/rerank/text-rerank/text-rerank"),
    "glm": ("/api/paas/v4/", "/api/paas/v4/rerank"),
    "siliconflow": ("/v1/", "/v1/rerank"),
    "openai": ("/v1/", "/v1/rerank"),
    "openai_compatible": ("/rerank", "/rerank"),
}


def embedder(fake: FakeServer, source: str, **kw: Any) -> OnlineEmbeddingModuleBase:
    url, _, extra = EMBED[source]
    args = {"api_key": KEY, **extra, **kw}
    return OnlineEmbeddingModule(source=source, embed_url=fake + url, **args)


@pytest.mark.parametrize("source", list(EMBED))
async def test_embed_one_and_many(fake: FakeServer, source: str) -> None:
    emb = embedder(fake, source)
    assert await emb("hello") == vector("hello")
    texts = [f"text number {i}" for i in range(5)]
    assert await emb(texts) == [vector(t) for t in texts]
    assert fake.state.requests[-1]["path"] == EMBED[source][1]
    assert await emb([]) == []


@pytest.mark.parametrize("source", ["openai", "qwen"])
@pytest.mark.parametrize("concurrency", [1, 3])
async def test_batches_keep_input_order(fake: FakeServer, source: str, concurrency: int) -> None:
    emb = embedder(fake, source, batch_size=2, concurrency=concurrency)
    texts = [f"t{i}" for i in range(7)]
    before = len(fake.state.requests)
    assert await emb(texts) == [vector(t) for t in texts]
    sent = fake.state.requests[before:]
    assert len(sent) == 4
    sizes = sorted(len(r["body"]["input"]["texts"] if source == "qwen" else r["body"]["input"]) for r in sent)
    assert sizes == [1, 2, 2, 2]


async def test_qwen_batch_is_capped_and_body_is_native(fake: FakeServer) -> None:
    emb = embedder(fake, "qwen", batch_size=64, static_params={"dimension": 16})
    assert emb.batch_size == 10
    out = await emb(["a b"])
    assert len(out[0]) == 16
    assert fake.state.requests[-1]["body"] == {"model": "text-embedding-v3", "input": {"texts": ["a b"]},
                                               "parameters": {"dimension": 16}}


@pytest.mark.parametrize("source", list(RERANK))
async def test_rerank_sorted_by_score(fake: FakeServer, source: str) -> None:
    url, path = RERANK[source]
    rr = OnlineEmbeddingModule(source=source, type="rerank", embed_url=fake + url, api_key=KEY)
    assert isinstance(rr, OnlineRerankModuleBase)
    docs = ["nothing here", "the quick fox", "quick brown fox jumps", "brown"]
    query = "quick brown fox"
    out = await rr(query, documents=docs)
    assert out == sorted(((i, score(query, d)) for i, d in enumerate(docs)), key=lambda p: (-p[1], p[0]))
    assert fake.state.requests[-1]["path"] == path
    top = await rr(query, documents=docs, top_n=2)
    assert [i for i, _ in top] == [2, 1]
    assert await rr(query, documents=[]) == []
    with pytest.raises(al.ConfigError, match="documents"):
        await rr(query)


async def test_openai_rerank_needs_a_compatible_server(fake: FakeServer) -> None:
    # OpenAI has no /rerank: without an embed_url this is a ConfigError naming the fix, not a 404
    with pytest.raises(al.ConfigError, match="OpenAI has no rerank endpoint"):
        OnlineEmbeddingModule(source="openai", type="rerank", api_key=KEY)
    rr = OnlineEmbeddingModule(source="openai", type="rerank", embed_url=fake + "/v1/", api_key=KEY)
    await rr("q", documents=["q"])
    assert "model" not in fake.state.requests[-1]["body"]  # no Cohere model name sent to someone else's server


async def test_glm_rerank_asks_for_raw_scores(fake: FakeServer) -> None:
    rr = OnlineEmbeddingModule(source="glm", type="rerank", embed_url=fake + "/api/paas/v4/", api_key=KEY)
    await rr("q", documents=["q"])
    body = fake.state.requests[-1]["body"]
    assert body["return_raw_scores"] is True and body["return_documents"] is False


async def test_doubao_multimodal_embedding(fake: FakeServer, tmp_path: Path) -> None:
    img = tmp_path / "x.png"
    img.write_bytes(b"png")
    emb = OnlineEmbeddingModule(source="doubao", embed_model_name="doubao-embedding-vision-241215",
                                embed_url=fake + "/api/v3/", api_key=KEY)
    assert emb.type == "multimodal_embed"
    assert await emb("a cat") == vector("a cat")
    both = await emb([{"text": "a cat", "image": str(img)}, "https://x.test/dog.jpg"])
    assert len(both) == 2 and both[1] == vector("https://x.test/dog.jpg")
    sent = [r["body"] for r in fake.state.requests if r["path"] == "/api/v3/embeddings/multimodal"]
    first = next(b for b in sent if len(b["input"]) == 2)  # the two inputs went out concurrently
    assert first["input"][0] == {"type": "text", "text": "a cat"}
    assert first["input"][1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_embedding_errors_are_typed(fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="openai", embed_url=fake + "/v1/", api_key="sk-bad-embedding-key-xyz")
    assert "sk-bad-embedding-key-xyz" not in repr(emb)
    with pytest.raises(al.AuthenticationError) as info:
        await emb("x")
    assert "sk-bad-embedding-key-xyz" not in str(info.value)
    with pytest.raises(al.ConfigError, match="embed a str or a list"):
        await embedder(fake, "openai")(42)
