"""The seed's online examples (``shared/seeds/lazyllm_module_docs.txt``: ``OnlineChatModule``,
``OnlineEmbeddingModule``, ``OnlineChatModuleBase``, ``OnlineEmbeddingModuleBase``), numbered on
from test_seed_examples.py, translated only by ``await`` / ``async for`` / ``async with``;
``lazyllm`` is ``al``.

The modules the seed builds without an endpoint reach the fake provider through
``ASYNCLLM_ONLINE_BASE_URL`` (set in the environment, not in the example's code); the seed's
placeholders (``'<new platform base url>'``, ``pass`` bodies) are filled with the fake's URL
and working bodies, which is what a user porting them would write.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY

import asyncllm as al
from asyncllm.online import OnlineChatModuleBase, OnlineEmbeddingModuleBase

pytestmark = pytest.mark.anyio


@pytest.fixture
def redirected(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    """Every online module built without a URL goes to the fake; the platform key is configured."""
    monkeypatch.setenv("ASYNCLLM_ONLINE_BASE_URL", fake + "/v1/")
    monkeypatch.setenv("SENSENOVA_API_KEY", DEFAULT_KEY)
    return fake


async def test_example_19_online_chat_module(redirected: FakeServer, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # The seed watches the stream through a thread pool and FileSystemQueue; the async form
    # reads the same chunks from the call's Stream.
    m = al.OnlineChatModule(source="sensenova", stream=True)
    query = "Hello!"
    async with m.stream(query, llm_chat_history=[]) as s:
        async for value in s:
            print(f"output: {value}")
    print(f"ret: {s.result}")
    out = capsys.readouterr().out
    assert out.startswith("output: ") and out.endswith("ret: fake reply to: Hello!\n")
    assert "".join(line[len("output: "):] for line in out.splitlines()[:-1]) == "fake reply to: Hello!"
    # the platform's default system prompt went with it (the seed's "official system prompt")
    sent = redirected.state.requests[-1]["body"]["messages"]
    assert sent[0] == {"role": "system", "content": m.system_prompt} and m.system_prompt

    from asyncllm.prompts import encode_query_with_filepaths

    image = tmp_path / "image.png"
    image.write_bytes(b"\x89PNG a picture")
    vlm = al.OnlineChatModule(source="sensenova", model="SenseChat-Vision")
    query = "what is it?"
    inputs = encode_query_with_filepaths(query, [str(image)])
    print(await vlm(inputs))
    assert capsys.readouterr().out == "fake reply to: what is it? [+1 media]\n"  # the fake counts the image
    parts = redirected.state.requests[-1]["body"]["messages"][-1]["content"]
    assert parts[0] == {"type": "text", "text": "what is it?"}
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,")


async def test_example_20_online_embedding_module(redirected: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    m = al.OnlineEmbeddingModule(source="sensenova")
    emb = await m("hello world")
    print(f"emb: {emb}")
    assert isinstance(emb, list) and emb and all(isinstance(x, float) for x in emb)
    assert capsys.readouterr().out.startswith("emb: [")


# -- example 21: OnlineChatModuleBase subclasses, written as the seed writes them --------------

def _chat_classes(base_url: str) -> tuple[type[OnlineChatModuleBase], type[OnlineChatModuleBase]]:
    from asyncllm.online.file_handler import FileHandlerBase

    al.config.add("new_platform_api_key", str, "", "NEW_PLATFORM_API_KEY")  # the seed's step 5

    class NewPlatformChatModule(OnlineChatModuleBase):
        def __init__(self,
                     base_url: str = base_url,
                     model: str = "fake-chat",
                     system_prompt: str = "You are the new platform's assistant.",
                     stream: bool = True,
                     return_trace: bool = False):
            super().__init__(model_type="new_class_name",
                             api_key=al.config['new_platform_api_key'],
                             base_url=base_url,
                             system_prompt=system_prompt,
                             stream=stream,
                             return_trace=return_trace)

    class NewPlatformChatModule1(OnlineChatModuleBase, FileHandlerBase):
        TRAINABLE_MODELS_LIST = ['model_t1', 'model_t2', 'model_t3']  # noqa: RUF012  (the seed's line)

        def __init__(self,
                     base_url: str = base_url,
                     model: str = "model_t1",
                     system_prompt: str = "You are the new platform's assistant.",
                     stream: bool = True,
                     return_trace: bool = False):
            OnlineChatModuleBase.__init__(self,
                                          model_type="new_class_name",
                                          api_key=al.config['new_platform_api_key'],
                                          base_url=base_url,
                                          model_name=model,
                                          system_prompt=system_prompt,
                                          stream=stream,
                                          trainable_models=NewPlatformChatModule1.TRAINABLE_MODELS_LIST,
                                          return_trace=return_trace)
            FileHandlerBase.__init__(self)

        # The seed's hooks are plain functions (``pass``, then a return); these talk to the fake's
        # OpenAI-style fine-tune endpoints with a blocking client, as a ported hook would.
        def _client(self) -> httpx.Client:
            # the module's own auth headers (self._api_key is a Secret: its text is redacted)
            return httpx.Client(base_url=self._base_url, headers=dict(self._auth_headers()), timeout=30)

        def _convert_file_format(self, filepath: str) -> str:
            with open(filepath, encoding="utf-8") as f:
                data_str = f.read()
            return data_str

        def _upload_train_file(self, train_file):  # type: ignore[no-untyped-def, override]
            with self._client() as c, open(train_file, "rb") as f:
                r = c.post("files", files={"file": ("train.jsonl", f.read())}, data={"purpose": "fine-tune"})
            train_file_id = r.json()["id"]
            return train_file_id

        def _create_finetuning_job(self, train_model, train_file_id, **kw):  # type: ignore[no-untyped-def, override]
            with self._client() as c:
                job = c.post("fine_tuning/jobs", json={"model": train_model, "training_file": train_file_id}).json()
            fine_tuning_job_id, status = job["id"], job["status"]
            return fine_tuning_job_id, status

        def _query_finetuning_job(self, fine_tuning_job_id):  # type: ignore[no-untyped-def, override]
            with self._client() as c:
                job = c.get(f"fine_tuning/jobs/{fine_tuning_job_id}").json()
            fine_tuned_model, status = job["fine_tuned_model"], job["status"]
            return fine_tuned_model, status

        def _create_deployment(self):  # type: ignore[no-untyped-def, override]
            return self._model_name, "RUNNING"

        def _query_deployment(self, deployment_id):  # type: ignore[no-untyped-def, override]
            return "RUNNING"

    return NewPlatformChatModule, NewPlatformChatModule1


async def test_example_21_chat_module_subclasses(fake: FakeServer, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYLLM_NEW_PLATFORM_API_KEY", DEFAULT_KEY)  # a ported setup's variable
    NewPlatformChatModule, NewPlatformChatModule1 = _chat_classes(fake + "/v1/")

    m = NewPlatformChatModule()
    assert m.series == "new_class_name"
    assert await m("hi") == "fake reply to: hi"
    sent = fake.state.requests[-1]
    assert sent["body"]["messages"][0] == {"role": "system", "content": "You are the new platform's assistant."}
    assert sent["key"]  # the key from al.config['new_platform_api_key'] was sent

    tuned = NewPlatformChatModule1()
    assert tuned.trainable_models == ['model_t1', 'model_t2', 'model_t3']
    train = tmp_path / "train.jsonl"
    train.write_text('{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}\n')
    tuned._poll_interval = 0
    await tuned.trainset(str(train)).update()
    assert tuned.model is not None and tuned.model.startswith("ft:model_t1")
    assert await tuned("hi") == "fake reply to: hi"
    assert fake.state.requests[-1]["body"]["model"] == tuned.model


# -- example 22: OnlineEmbeddingModuleBase subclasses ---------------------------------------------

async def test_example_22_embedding_module_subclasses(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAZYLLM_NEW_PLATFORM_API_KEY", DEFAULT_KEY)  # a ported setup's variable
    al.config.add("new_platform_api_key", str, "", "NEW_PLATFORM_API_KEY")
    url = fake + "/v1/embeddings"

    class NewPlatformEmbeddingModule(OnlineEmbeddingModuleBase):
        def __init__(self,
                     embed_url: str = url,
                     embed_model_name: str = 'text-embedding-3-small'):
            super().__init__(embed_url, al.config['new_platform_api_key'], embed_model_name)

    class NewPlatformEmbeddingModule1(OnlineEmbeddingModuleBase):
        def __init__(self,
                     embed_url: str = url,
                     embed_model_name: str = 'text-embedding-3-small'):
            super().__init__(embed_url, al.config['new_platform_api_key'], embed_model_name)

        def _encapsulated_data(self, text: str, **kwargs: Any) -> dict[str, Any]:
            json_data = {"input": [text], "model": self._embed_model_name, "dimensions": 8}
            return json_data

        def _parse_response(self, response: dict[str, Any]) -> list[float]:  # type: ignore[override]
            embedding: list[float] = response['data'][0]['embedding']
            return embedding

    plain = await NewPlatformEmbeddingModule()("hello world")
    assert isinstance(plain, list) and all(isinstance(x, float) for x in plain)
    assert fake.state.requests[-1]["body"]["model"] == "text-embedding-3-small"
    ported = await NewPlatformEmbeddingModule1()("hello world")
    assert fake.state.requests[-1]["body"] == {"input": ["hello world"], "model": "text-embedding-3-small",
                                               "dimensions": 8}
    assert isinstance(ported, list) and len(ported) == 8
