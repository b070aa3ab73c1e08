"""Fine-tuning through the provider API, driven by ``update()``, against the fake provider's
OpenAI-style files + fine_tuning/jobs endpoints (the fake moves a job one step per poll)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY

import asyncllm as al
from asyncllm.online import OnlineChatModule

pytestmark = pytest.mark.anyio


def trainfile(tmp_path: Path) -> str:
    rows = [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"},
                          {"role": "tool", "content": "dropped"}, {"role": "assistant", "content": "a"}]}] * 3
    p = tmp_path / "train.jsonl"
    p.write_bytes(b"\n".join(orjson.dumps(r) for r in rows) + b"\n")
    return str(p)


@pytest.mark.parametrize("source", ["openai", "glm"])
async def test_update_trains_and_switches_to_the_tuned_model(fake: FakeServer, tmp_path: Path, source: str) -> None:
    events: list[dict[str, Any]] = []
    chat = OnlineChatModule(source=source, model="fake-chat", base_url=fake + "/v1/", api_key=KEY,
                            poll_interval=0, stream=False)
    assert chat._get_train_tasks() is None
    chat.trainset(trainfile(tmp_path), progress=events.append, n_epochs=2, suffix="mine")
    await chat.update()
    assert chat.model is not None and chat.model.startswith("ft:fake-chat:fake-org:mine:")
    assert [e["stage"] for e in events][:2] == ["uploaded", "created"]
    assert events[-1]["stage"] == "done"
    assert [e["status"] for e in events if e["stage"] == "poll"] == ["queued", "running", "succeeded"]
    (job,) = fake.state.jobs.values()
    assert job["hyperparameters"] == {"n_epochs": 2}
    (uploaded,) = fake.state.files.values()
    assert uploaded["purpose"] == "fine-tune"
    first = orjson.loads(uploaded["content"].splitlines()[0])
    assert [m["role"] for m in first["messages"]] == ["system", "user", "assistant"]
    await chat("hi")
    assert fake.state.requests[-1]["body"]["model"] == chat.model
    await chat.update()  # trained once: no second job
    assert len(fake.state.jobs) == 1


async def test_a_cancelled_job_fails_the_update(fake: FakeServer, tmp_path: Path) -> None:
    chat = OnlineChatModule(source="openai", model="fake-chat", base_url=fake + "/v1/", api_key=KEY,
                            poll_interval=0)

    async def cancel_on_create(event: dict[str, Any]) -> None:
        if event["stage"] == "created":
            await chat._cancel_finetuning_job(event["job_id"])

    chat.trainset(trainfile(tmp_path), progress=cancel_on_create)
    with pytest.raises(al.LifecycleError, match="cancelled"):
        await chat.update()
    assert chat.model == "fake-chat"


async def test_providers_without_fine_tuning_say_so(fake: FakeServer, tmp_path: Path) -> None:
    chat = OnlineChatModule(source="deepseek", base_url=fake + "/", api_key=KEY, poll_interval=0)
    chat.trainset(trainfile(tmp_path))
    with pytest.raises(al.LifecycleError, match="does not offer fine-tuning"):
        await chat.update()


async def test_bad_training_file_is_a_clear_error(fake: FakeServer, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text("not json\n")
    chat = OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=KEY, poll_interval=0)
    with pytest.raises(al.LifecycleError, match=r"bad\.jsonl:1 is not JSON"):
        await chat.trainset(str(bad)).update()
    with pytest.raises(al.ConfigError):
        chat.trainset("")


async def test_specific_tuned_model_is_checked_then_used(fake: FakeServer, tmp_path: Path) -> None:
    trained = OnlineChatModule(source="openai", model="fake-chat", base_url=fake + "/v1/", api_key=KEY,
                               poll_interval=0)
    await trained.trainset(trainfile(tmp_path)).update()
    chat = OnlineChatModule(source="openai", base_url=fake + "/v1/", api_key=KEY, stream=False)
    # the seed's check: the model must be one the account's fine-tune jobs produced
    with pytest.raises(al.ConfigError, match="not one of this account's fine-tuned models"):
        await chat.set_specific_finetuned_model("ft:fake-chat:x")
    assert await chat.set_specific_finetuned_model(trained.model or "") is chat
    await chat("hi")
    assert fake.state.requests[-1]["body"]["model"] == trained.model


# -- providers with their own fine-tune APIs (routes from fakeprovider/extra_routes.py) ---------


@pytest.fixture
async def fake_plus(anyio_backend: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    from fakeprovider import server
    from fakeprovider.extra_routes import add_extra_routes

    from asyncllm._http import aclose_all

    plain = server.build_app
    monkeypatch.setattr(server, "build_app", lambda state=None: add_extra_routes(plain(state)))
    async with server.running_fake_provider() as url:
        try:
            yield url
        finally:
            await aclose_all()


async def test_qwen_trains_then_deploys_through_dashscope(fake_plus: FakeServer, tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []
    chat = OnlineChatModule(source="qwen", model="qwen-plus", base_url=fake_plus + "/compatible-mode/v1/",
                            api_key=KEY, poll_interval=0, stream=False)
    chat.trainset(trainfile(tmp_path), progress=events.append, n_epochs=1, capacity=2)
    await chat.update()
    assert chat.model is not None and chat.model.startswith("qwen-plus-ft-") and chat.model.endswith("-dep")
    polls = [e["status"] for e in events if e["stage"] == "poll"]
    assert polls == ["QUEUING", "RUNNING", "SUCCEEDED"]
    assert [e["status"] for e in events if e["stage"] == "deploy"] == ["DEPLOYING", "RUNNING"]
    create = next(r for r in fake_plus.state.requests if r["path"] == "/api/v1/fine-tunes")
    assert create["body"]["hyper_parameters"] == {"n_epochs": 1}
    deploy = next(r for r in fake_plus.state.requests if r["path"] == "/api/v1/deployments")
    assert deploy["body"]["capacity"] == 2
    assert await chat("hi") == "fake reply to: hi"
    assert fake_plus.state.requests[-1]["body"]["model"] == chat.model


async def test_sensenova_trains_through_a_dataset_then_serves(fake_plus: FakeServer, tmp_path: Path) -> None:
    from fakeprovider.state import SENSENOVA_AK, SENSENOVA_SK

    chat = OnlineChatModule(source="sensenova", model="SenseChat-5", base_url=fake_plus + "/sensenova/v1/",
                            api_key=f"{SENSENOVA_AK}:{SENSENOVA_SK}", poll_interval=0)
    chat.trainset(trainfile(tmp_path), upload_url=fake_plus + "/sensenova/files/v1/files", n_iters=10)
    await chat.update()
    assert chat.model is not None and chat.model.startswith("SenseChat-5:")
    paths = [r["path"] for r in fake_plus.state.requests]
    # the paths and bodies of the official SDK (sensenova 1.0.6; the fake refuses any other shape)
    assert paths.index("/sensenova/v1/llm/fine-tune/datasets") < paths.index("/sensenova/v1/llm/fine-tunes")
    assert "/sensenova/v1/llm/fine-tune/servings" in paths
    sent = {r["path"]: r["body"] for r in fake_plus.state.requests if r["method"] == "POST"}
    (file_id,) = fake_plus.state.files
    assert sent["/sensenova/v1/llm/fine-tune/datasets"]["files"] == [file_id]
    assert sent["/sensenova/v1/llm/fine-tunes"]["hyperparams"] == {"training": {"n_iters": 10}}
    assert await chat("hi") == "fake reply to: hi"
