"""The official ``sensenova`` SDK (1.0.6) as the oracle for SenseNova's fine-tuning API: files,
datasets, fine-tune jobs, servings (issue #18, defect 1).

sensenova 1.0.6 pins ``PyJWT==2.6.0`` while zhipuai pins ``pyjwt<2.9,>=2.8``, so it cannot share
the ``test`` extra's resolution; nox installs it with ``--no-deps`` (its one JWT call,
``jwt.encode`` in util.py, is the same in 2.8). Without it these tests skip, saying so.

(a) the SDK against the fake: every step accepted and its answer parsed;
(b) asyncllm's fine-tune flow and the SDK's send the same requests to the same paths.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import SENSENOVA_AK, SENSENOVA_SK, key_tag
from sdk_oracle import assert_same_request, requests_to, sdk

from asyncllm.online import OnlineChatModule

sensenova = pytest.importorskip("sensenova", reason="install it with: pip install --no-deps sensenova==1.0.6 "
                                                     "(see this module's docstring)")

pytestmark = pytest.mark.anyio

TRAIN = b'{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n'


@pytest.fixture
def nova(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """The SDK's module-level settings pointed at the fake (sensenova/__init__.py api_base, api_base_file)."""
    monkeypatch.setattr(sensenova, "api_base", fake + "/sensenova/v1")
    monkeypatch.setattr(sensenova, "api_base_file", fake + "/sensenova/files/v1")
    monkeypatch.setattr(sensenova, "access_key_id", SENSENOVA_AK)
    monkeypatch.setattr(sensenova, "secret_access_key", SENSENOVA_SK)
    yield sensenova


def _sdk_flow(nova: Any) -> dict[str, Any]:
    up = nova.File.create(file=io.BytesIO(TRAIN), scheme="FINE_TUNE_2", description="asyncllm fine-tune data")
    ds = nova.Dataset.create(description="asyncllm", files=[up["id"]])
    job = nova.FineTune.create(model="SenseChat-5", training_file=ds["dataset"]["id"], suffix="asyncllm",
                               hyperparams={"training": {"n_iters": 10}})
    got = nova.FineTune.retrieve(id=job["job"]["id"])
    srv = nova.Serving.create(model="SenseChat-5:tuned", config={"run_time": 0})
    return {"file": up, "dataset": ds, "job": job, "got": got, "serving": srv}


async def test_the_sdk_runs_the_fine_tune_flow_against_the_fake(nova: Any) -> None:
    out = await sdk(_sdk_flow, nova)
    assert out["file"]["id"] and out["dataset"]["dataset"]["id"]
    assert out["got"]["job"]["id"] == out["job"]["job"]["id"]
    assert out["serving"]["job"]["status"] == "PENDING"


async def test_fine_tune_requests_match_the_sdk(nova: Any, fake: FakeServer, tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(TRAIN)
    chat = OnlineChatModule(source="sensenova", model="SenseChat-5", base_url=fake + "/sensenova/v1/",
                            api_key=f"{SENSENOVA_AK}:{SENSENOVA_SK}", poll_interval=0)
    chat.trainset(str(path), upload_url=fake + "/sensenova/files/v1/files", n_iters=10)
    ds_id = await chat._upload_train_file(str(path))
    await chat._create_finetuning_job("SenseChat-5", ds_id, **chat._train_params)
    await chat.set_specific_finetuned_model("SenseChat-5:tuned")
    await chat._create_deployment()
    await sdk(_sdk_flow, nova)

    for route, differ in (("/sensenova/v1/llm/fine-tune/datasets", {"files": "each upload got its own id"}),
                          ("/sensenova/v1/llm/fine-tunes", {"training_file": "each dataset got its own id"}),
                          ("/sensenova/v1/llm/fine-tune/servings", {})):
        ours, theirs = [r for r in requests_to(fake, route) if r["method"] == "POST"]
        # the JWTs differ (each is signed with its own exp/nbf); both carry the same access key pair
        assert_same_request(ours, theirs, differ=differ, same_key=False)
        assert ours["key"] and theirs["key"] and ours["key"] != key_tag("")
    # the file ids each side sent are the ids its own upload got
    files = list(fake.state.files)
    sent = [r["body"]["files"] for r in requests_to(fake, "/sensenova/v1/llm/fine-tune/datasets")]
    assert sent == [[files[0]], [files[1]]]
