"""Multimodal embeddings (qwen, siliconflow; doubao is in test_embeddings.py) against the fake
provider: what goes on the wire for text, image files, image URLs and mixed inputs, and what
comes back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fakeprovider.embed import vector
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineEmbeddingModule
from asyncllm.online.qwen import QwenMultimodalEmbedding
from asyncllm.online.siliconflow import SiliconFlowMultimodalEmbedding

pytestmark = pytest.mark.anyio

QWEN_PATH = "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"


def sent(fake: FakeServer, path: str) -> list[dict[str, Any]]:
    return [r["body"] for r in fake.state.requests if r["path"] == path]


@pytest.fixture
def png(tmp_path: Path) -> str:
    p = tmp_path / "cat.png"
    p.write_bytes(b"\x89PNG fake")
    return str(p)


async def test_qwen_text_image_and_lists(fake: FakeServer, png: str) -> None:
    emb = OnlineEmbeddingModule(source="qwen", embed_model_name="qwen2.5-vl-embedding", embed_url=fake + "/",
                                api_key=KEY)
    assert isinstance(emb, QwenMultimodalEmbedding) and emb.type == "multimodal_embed"
    assert await emb("a cat") == vector("a cat")
    url = "https://img.example/dog.jpg"
    vecs = await emb(["a cat", png, url])
    assert vecs[0] == vector("a cat") and vecs[2] == vector(url)
    bodies = sent(fake, QWEN_PATH)
    assert {"contents": [{"text": "a cat"}]} in [b["input"] for b in bodies]
    assert {"contents": [{"image": url}]} in [b["input"] for b in bodies]
    local = next(b for b in bodies if b["input"]["contents"][0].get("image", "").startswith("data:"))
    assert local["input"]["contents"][0]["image"].startswith("data:image/png;base64,")
    assert vecs[1] == vector(local["input"]["contents"][0]["image"])
    assert all(b["model"] == "qwen2.5-vl-embedding" for b in bodies)


async def test_qwen_mixed_input_needs_a_fusing_model(fake: FakeServer) -> None:
    url = "https://img.example/dog.jpg"
    plain = OnlineEmbeddingModule(source="qwen", type="multimodal_embed", embed_url=fake + "/", api_key=KEY,
                                  embed_model_name="multimodal-embedding-v1")
    with pytest.raises(al.ProtocolError, match="separate inputs"):
        await plain({"text": "a dog", "image": url})
    fused = OnlineEmbeddingModule(source="qwen", type="multimodal_embed", embed_url=fake + "/", api_key=KEY,
                                  embed_model_name="tongyi-embedding-fusion")
    assert await fused({"text": "a dog", "image": url}, dimension=4) == vector(f"a dog\n{url}", 4)
    assert sent(fake, QWEN_PATH)[-1]["parameters"] == {"dimension": 4}


async def test_siliconflow_text_and_image_make_one_vector(fake: FakeServer, png: str) -> None:
    emb = OnlineEmbeddingModule(source="siliconflow", embed_model_name="Qwen/Qwen3-VL-Embedding-8B",
                                embed_url=fake + "/v1/", api_key=KEY)
    assert isinstance(emb, SiliconFlowMultimodalEmbedding)
    assert await emb("a cat") == vector("a cat")
    v = await emb({"text": "a cat", "image": png})
    body = sent(fake, "/v1/embeddings")[-1]
    item = body["input"][0]
    assert body["model"] == "Qwen/Qwen3-VL-Embedding-8B" and item["text"] == "a cat"
    assert item["image"].startswith("data:image/png;base64,")
    assert v == vector(f"a cat\n{item['image']}")
    with pytest.raises(al.ConfigError, match="one image per input"):
        await emb({"text": "x", "images": [png, png]})


async def test_bad_multimodal_inputs_name_the_fix(fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="siliconflow", type="multimodal_embed", embed_url=fake + "/v1/", api_key=KEY)
    with pytest.raises(al.ConfigError, match="'text' and/or 'image'"):
        await emb([{"caption": "x"}])
    with pytest.raises(al.ConfigError, match="cannot be read"):
        await emb("/no/such/picture.png")
    assert sent(fake, "/v1/embeddings") == []  # nothing was sent for bad input
