"""The seed's online contract, gap by gap (issue #11): ``system_prompt=`` on every chat provider,
a subclass written the seed's way (no ``source=``, ``model_type``/``model_series``,
``trainable_models``), fine-tune hooks written as plain ``def`` or ``async def`` with
``FileHandlerBase``, ``set_specific_finetuned_model``, and ``OnlineEmbeddingModuleBase`` called
positionally with ``_encapsulated_data`` / ``_parse_response`` overrides. Everything runs against
the fake provider, and the assertions are on what it received."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

import anyio
import orjson
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY as KEY
from test_chat_providers import PROVIDERS
from test_more_providers import CHAT

import asyncllm as al
from asyncllm.online import CHAT as REGISTRY
from asyncllm.online import FileHandlerBase, OnlineChatModule, OnlineChatModuleBase, OnlineEmbeddingModuleBase
from asyncllm.online._finetune import OpenAIFineTuneAPI

pytestmark = pytest.mark.anyio

ALL = {**{s: (p, kw) for s, (p, kw) in PROVIDERS.items()}, **{s: (p, kw) for s, (p, kw, _) in CHAT.items()}}


def system_sent(body: dict[str, Any]) -> str | None:
    """The system text of a request, wherever the provider's wire puts it."""
    if "system" in body:  # Claude
        return str(body["system"])
    if "systemInstruction" in body:  # Gemini
        return "".join(p["text"] for p in body["systemInstruction"]["parts"])
    first = (body.get("messages") or [{}])[0]  # OpenAI wire, Ollama
    return str(first["content"]) if first.get("role") == "system" else None


def chat(fake: FakeServer, source: str, **kw: Any) -> OnlineChatModuleBase:
    path, extra = ALL[source]
    return OnlineChatModule(source=source, base_url=fake + path, api_key=KEY, stream=False, **{**extra, **kw})


@pytest.mark.parametrize("source", sorted(ALL))
async def test_system_prompt_replaces_the_default_and_leads_the_instruction(fake: FakeServer, source: str) -> None:
    default = chat(fake, source)
    await default("hi")
    # every vendor's module has its default; an OpenAI-compatible server and Ollama bring their own
    assert system_sent(fake.state.requests[-1]["body"]) == default.system_prompt
    assert bool(default.system_prompt) is (source not in ("openai_compatible", "ollama"))

    mine = chat(fake, source, system_prompt="Answer in French.")
    assert mine.system_prompt == "Answer in French."
    await mine("hi")
    assert system_sent(fake.state.requests[-1]["body"]) == "Answer in French."
    await mine.prompt("Be brief.")("hi")
    assert system_sent(fake.state.requests[-1]["body"]) == "Answer in French.\nBe brief."

    await chat(fake, source, system_prompt="")("hi")
    assert system_sent(fake.state.requests[-1]["body"]) is None


async def test_every_registered_chat_provider_takes_system_prompt() -> None:
    from asyncllm.online import _load_providers

    _load_providers()
    for source, cls in REGISTRY.items():
        assert cls(base_url="http://127.0.0.1:9/", api_key="k", model="m",
                   system_prompt="S").system_prompt == "S", source
    with pytest.raises(al.ConfigError, match="system_prompt must be a str"):
        OnlineChatModule(source="openai", api_key="k", system_prompt=["S"])  # type: ignore[arg-type]


# -- a subclass written the seed's way -----------------------------------------------------------


class SeedStyleChat(OnlineChatModuleBase):
    """No ``source=``: the seed's form, keyword arguments as its example passes them."""

    def __init__(self, base_url: str, system_prompt: str = "You are Seedy.", **kw: Any) -> None:
        super().__init__(model_type="seedy", api_key=KEY, base_url=base_url, model_name="fake-chat",
                         system_prompt=system_prompt, stream=False, return_trace=False, **kw)


async def test_a_seed_style_subclass_is_usable_directly(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    m = SeedStyleChat(fake + "/v1/")
    assert (m.series, m.source, m.model) == ("seedy", "", "fake-chat")
    assert await m("hi") == "fake reply to: hi"
    assert fake.state.requests[-1]["body"]["messages"][0] == {"role": "system", "content": "You are Seedy."}
    # the key of a class without source= is read under its series, as the seed's config names it
    monkeypatch.setenv("LAZYLLM_SEEDY_API_KEY", KEY)
    keyless = OnlineChatModuleBase(model_series="seedy", base_url=fake + "/v1/", model="fake-chat", stream=False)
    assert await keyless("x") == "fake reply to: x"
    with pytest.raises(al.ConfigError, match="same setting"):
        OnlineChatModuleBase(model_series="a", model_type="b", api_key=KEY, base_url=fake + "/v1/")
    with pytest.raises(al.ConfigError, match="two models"):
        OnlineChatModuleBase(model="a", model_name="b", api_key=KEY, base_url=fake + "/v1/")


# -- fine-tuning: the seed's hooks, sync or async ----------------------------------------------


def trainfile(tmp_path: Path) -> str:
    p = tmp_path / "train.jsonl"
    p.write_bytes(orjson.dumps({"messages": [{"role": "user", "content": "q"},
                                             {"role": "assistant", "content": "a"}]}) + b"\n")
    return str(p)


class SyncHooks(OpenAIFineTuneAPI, OnlineChatModuleBase, FileHandlerBase):
    """The seed's hooks as plain functions; each one runs in a worker thread (checked)."""

    TRAINABLE_MODEL_LIST = ("fake-chat",)
    threads: list[bool]

    def _convert_file_format(self, filepath: str) -> str:
        rows = [orjson.loads(line) for line in Path(filepath).read_text().splitlines()]
        self.threads.append(_off_loop())
        # the platform's own shape: one prompt/completion pair a line
        return "".join(orjson.dumps({"messages": r["messages"], "prompt": r["messages"][0]["content"]}).decode()
                       + "\n" for r in rows)

    def _upload_train_file(self, train_file):  # type: ignore[no-untyped-def, override]
        self.threads.append(_off_loop())
        return _blocking(super()._upload_train_file(train_file))

    def _create_finetuning_job(self, train_model, train_file_id, **kw):  # type: ignore[no-untyped-def, override]
        self.threads.append(_off_loop())
        return _blocking(super()._create_finetuning_job(train_model, train_file_id, **kw))

    def _query_finetuning_job(self, fine_tuning_job_id):  # type: ignore[no-untyped-def, override]
        self.threads.append(_off_loop())
        return _blocking(super()._query_finetuning_job(fine_tuning_job_id))


def _off_loop() -> bool:
    """True in a worker thread (no event loop running here)."""
    import sniffio

    try:
        sniffio.current_async_library()
    except sniffio.AsyncLibraryNotFoundError:
        return True
    return False


def _blocking(coro: Any) -> Any:
    # A sync hook calling the async implementation back on the loop, as from a worker thread.
    import anyio.from_thread

    async def run() -> Any:
        return await coro

    return anyio.from_thread.run(run)


class AsyncHooks(OpenAIFineTuneAPI, OnlineChatModuleBase, FileHandlerBase):
    TRAINABLE_MODEL_LIST = ("another-model",)

    async def _convert_file_format(self, filepath: str) -> str:  # type: ignore[override]
        return (await al_read(filepath)).replace('"q"', '"converted q"')


async def al_read(path: str) -> str:
    import anyio

    return await anyio.Path(path).read_text()


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_a_whole_fine_tune_through_seed_hooks(fake: FakeServer, tmp_path: Path, kind: str,
                                                   caplog: pytest.LogCaptureFixture,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where the converted copy is written
    cls = SyncHooks if kind == "sync" else AsyncHooks
    m = cls(model="fake-chat", base_url=fake + "/v1/", api_key=KEY, poll_interval=0, stream=False)
    if isinstance(m, SyncHooks):
        m.threads = []
    with caplog.at_level(logging.WARNING, "asyncllm.online"):
        await m.trainset(trainfile(tmp_path)).update()
    assert m.model is not None and m.model.startswith("ft:fake-chat")
    (uploaded,) = fake.state.files.values()
    line = orjson.loads(uploaded["content"].splitlines()[0])
    if isinstance(m, SyncHooks):
        assert line["prompt"] == "q"  # _convert_file_format's output is what was uploaded
        assert m.threads and all(m.threads)  # every plain hook ran off the event loop
        assert "not in this platform's list" not in caplog.text
    else:
        assert line["messages"][0]["content"] == "converted q"
        assert "fake-chat is not in this platform's list of trainable models" in caplog.text
    assert uploaded["filename"] == "train.jsonl"
    assert not [p async for p in anyio.Path(tmp_path).glob("asyncllm-ft-*")]  # the converted copy is gone
    # set_specific_finetuned_model checks the account's tuned models (the seed's semantics)
    other = cls(base_url=fake + "/v1/", api_key=KEY, stream=False)
    assert await other.set_specific_finetuned_model(m.model) is other
    with pytest.raises(al.ConfigError, match="not one of"):
        await other.set_specific_finetuned_model("ft:none")


async def test_a_converter_that_returns_nothing_is_a_clear_error(fake: FakeServer, tmp_path: Path) -> None:
    class Broken(OpenAIFineTuneAPI, OnlineChatModuleBase, FileHandlerBase):
        def _convert_file_format(self, filepath: str) -> str:
            pass  # type: ignore[return-value]  # the seed's placeholder body, left as is

    m = Broken(model="fake-chat", base_url=fake + "/v1/", api_key=KEY, poll_interval=0)
    with pytest.raises(al.LifecycleError, match="_convert_file_format must return"):
        await m.trainset(trainfile(tmp_path)).update()
    assert not fake.state.files


# -- OnlineEmbeddingModuleBase, the seed's way ------------------------------------------------------


class SeedEmbed(OnlineEmbeddingModuleBase):
    def __init__(self, embed_url: str, embed_model_name: str = "text-embedding-3-small") -> None:
        super().__init__(embed_url, KEY, embed_model_name)  # the seed's positional order


class SeedBody(SeedEmbed):
    def _encapsulated_data(self, input: Any, **kwargs: Any) -> dict[str, Any]:
        return {"input": input, "model": self._embed_model_name, "dimensions": 4, **kwargs}


class SeedParse(SeedEmbed):
    def _parse_response(self, response: dict[str, Any]) -> Any:  # type: ignore[override]
        vectors = [[round(x * 10, 3) for x in it["embedding"]] for it in response["data"]]
        return vectors[0] if len(vectors) == 1 else vectors


async def test_seed_embedding_subclasses(fake: FakeServer) -> None:
    url = fake + "/v1/"
    plain = await SeedEmbed(url)("a b")
    assert fake.state.requests[-1]["body"]["input"] == ["a b"] and fake.state.requests[-1]["key"]

    # a ported _encapsulated_data builds the body (a single input goes as itself, as in the seed)
    body_vec = await SeedBody(url)("a b", user="u1")
    assert fake.state.requests[-1]["body"] == {"input": "a b", "model": "text-embedding-3-small", "dimensions": 4,
                                               "user": "u1"}
    assert len(body_vec) == 4
    batch = await SeedBody(url)(["a", "b"])
    assert fake.state.requests[-1]["body"]["input"] == ["a", "b"] and len(batch) == 2

    # a ported one-argument _parse_response reads the answer
    parsed = await SeedParse(url)("a b")
    assert parsed == [round(x * 10, 3) for x in plain]
    both = await SeedParse(url)(["a b", "c"])
    assert both[0] == parsed and len(both) == 2

    with pytest.raises(al.ConfigError, match="both positionally and by keyword"):
        OnlineEmbeddingModuleBase(url, KEY, "m", embed_model_name="n")
