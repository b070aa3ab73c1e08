"""The official ``dashscope`` SDK (2.0.2) as the oracle for DashScope's native API: generation
(the fake's native route), text / multimodal embeddings, rerank, files, fine-tunes, deployments.
Qwen chat goes through DashScope's OpenAI-compatible mode, whose documented client is the OpenAI
SDK (test_openai_sdk.py).

(a) the SDK against the fake: each answer parsed, the generation stream included, the
    content-filter and arrears errors read;
(b) asyncllm and the SDK make the same call; the fake's two records must agree. The SDK sends
    ``"parameters": {}`` when there are none; the API reads it as absent (``sdk_oracle.normalized``).
"""

from __future__ import annotations

from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import dashscope
import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from sdk_oracle import assert_same_request, requests_to, sdk

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule

pytestmark = pytest.mark.anyio

TRAIN = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'


@pytest.fixture
def ds(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's module-level settings pointed at the fake (dashscope/__init__.py base_http_api_url)."""
    monkeypatch.setattr(dashscope, "base_http_api_url", fake + "/api/v1")
    monkeypatch.setattr(dashscope, "api_key", KEY)
    yield dashscope


async def test_the_sdk_parses_generation_and_its_stream(ds: Any) -> None:
    def run() -> tuple[Any, list[Any]]:
        whole = ds.Generation.call(model="qwen-plus", result_format="message",
                                   messages=[{"role": "user", "content": "hi"}])
        parts = list(ds.Generation.call(model="qwen-plus", result_format="message", stream=True,
                                        incremental_output=True, messages=[{"role": "user", "content": "one two"}]))
        return whole, parts

    whole, parts = await sdk(run)
    assert whole.status_code == HTTPStatus.OK
    assert whole.output.choices[0].message.content == "fake reply to: hi"
    assert "".join(p.output.choices[0].message.content for p in parts) == "fake reply to: one two"
    assert parts[-1].output.choices[0].finish_reason == "stop" and parts[-1].usage.output_tokens > 0


@pytest.mark.parametrize(("fault", "code"), [("blocked", "DataInspectionFailed"), ("quota", "Arrearage")])
async def test_the_sdk_reads_the_fakes_errors(ds: Any, fault: str, code: str) -> None:
    answer = await sdk(lambda: ds.TextEmbedding.call(model=f"text-embedding-v3 fault={fault}", input=["x"]))
    assert answer.status_code == 400 and answer.code == code


async def test_embedding_requests_match_the_sdk(ds: Any, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="qwen", embed_url=fake + "/", api_key=KEY)
    vectors = await emb(["a b", "c"])
    answer = await sdk(lambda: ds.TextEmbedding.call(model="text-embedding-v3", input=["a b", "c"]))
    assert [e["embedding"] for e in answer.output["embeddings"]] == vectors
    ours, theirs = requests_to(fake, "/api/v1/services/embeddings/text-embedding/text-embedding")
    assert_same_request(ours, theirs)


async def test_rerank_requests_match_the_sdk(ds: Any, fake: FakeServer) -> None:
    rr = OnlineEmbeddingModule(source="qwen", type="rerank", embed_url=fake + "/", api_key=KEY)
    ranked = await rr("quick fox", documents=["a quick fox", "nothing"], top_n=2)
    answer = await sdk(lambda: ds.TextReRank.call(model="gte-rerank-v2", query="quick fox",
                                                  documents=["a quick fox", "nothing"], top_n=2,
                                                  return_documents=False))
    assert [(r.index, r.relevance_score) for r in answer.output.results] == ranked
    ours, theirs = requests_to(fake, "/api/v1/services/rerank/text-rerank/text-rerank")
    assert_same_request(ours, theirs)


async def test_multimodal_embedding_requests_match_the_sdk(ds: Any, fake: FakeServer) -> None:
    emb = OnlineEmbeddingModule(source="qwen", type="multimodal_embed", embed_url=fake + "/", api_key=KEY,
                                embed_model_name="qwen2.5-vl-embedding-fusion")
    vec = await emb({"text": "a cat", "image": "https://x.test/cat.png"})
    answer = await sdk(lambda: ds.MultiModalEmbedding.call(model="qwen2.5-vl-embedding-fusion",
                                                           input=[{"text": "a cat"},
                                                                  {"image": "https://x.test/cat.png"}]))
    assert answer.output["embeddings"][0]["embedding"] == vec
    ours, theirs = requests_to(fake, "/api/v1/services/embeddings/multimodal-embedding/multimodal-embedding")
    assert_same_request(ours, theirs)


async def test_fine_tune_and_deployment_requests_match_the_sdk(ds: Any, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAIN)
    chat = OnlineChatModule(source="qwen", model="qwen-plus", base_url=fake + "/compatible-mode/v1/", api_key=KEY,
                            poll_interval=0)
    file_id = await chat._upload_train_file(str(path))
    await chat._create_finetuning_job("qwen-plus", file_id, n_epochs=1)
    chat._train_params = {"capacity": 2}
    await chat._create_deployment()

    def run() -> tuple[Any, Any, Any]:
        up = ds.Files.upload(file_path=str(path), description="asyncllm fine-tune data")
        job = ds.FineTunes.call(model="qwen-plus", training_file_ids=[up.output["uploaded_files"][0]["file_id"]],
                                mode="sft", hyper_parameters={"n_epochs": 1})
        dep = ds.Deployments.call(model="qwen-plus", capacity=2)
        return up, job, dep

    up, job, dep = await sdk(run)
    assert up.status_code == 200 and job.output.status == "PENDING" and dep.output.capacity == 2
    (_, ours), (_, theirs) = fake.state.files.items()
    assert ours["filename"] == theirs["filename"]
    assert [orjson.loads(x) for x in ours["content"].splitlines()] == [orjson.loads(x) for x in TRAIN.splitlines()]
    job_ours, job_theirs = requests_to(fake, "/api/v1/fine-tunes")
    assert_same_request(job_ours, job_theirs, differ={"training_file_ids": "each upload got its own id"})
    dep_ours, dep_theirs = requests_to(fake, "/api/v1/deployments")
    assert_same_request(dep_ours, dep_theirs)
