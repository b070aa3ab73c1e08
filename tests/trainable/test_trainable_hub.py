"""Models named by their hub id are downloaded (``TrainableModule("Org/name", source=...)``).

Against a fake Hugging Face Hub on 127.0.0.1 (``tests/fakehub``; ``HF_ENDPOINT`` aims the real
``huggingface_hub`` client at it): a tiny BERT built for the test is downloaded into the model
cache, served by the embedding engine and called; a hub that is down, a repository that does not
exist and a gated one are each a typed error naming the fix, and a cancelled download leaves
nothing that is later taken for the model.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest
from fakehub import FakeHub, Repo, running_fake_hub

import asyncllm as al
from asyncllm.trainable import hub as hubmod
from asyncllm.trainable.hub import MARKER, HubName, parse_hub_name

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

TOKEN = "hf_SuperSecretToken0123456789"

_BUILD = r"""
import sys
from pathlib import Path
from transformers import BertConfig, BertModel, BertTokenizer
out = Path(sys.argv[1]); out.mkdir(parents=True, exist_ok=True)
words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "world", "cat", "dog", "the", "a", "is"]
(out / "vocab.txt").write_text("\n".join(words) + "\n")
BertTokenizer(str(out / "vocab.txt")).save_pretrained(str(out))
cfg = BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                 intermediate_size=37, max_position_embeddings=64)
BertModel(cfg).save_pretrained(str(out))
"""


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32-dim BERT with a 12-word vocabulary (random weights): what the fake hub serves.
    Built in a child process so this one never imports torch."""
    out = tmp_path_factory.mktemp("tiny-bert")
    subprocess.run([sys.executable, "-c", _BUILD, str(out)], check=True, timeout=300, capture_output=True)
    return out


@pytest.fixture
def hub_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh model cache; no token or offline flag from the developer's environment."""
    cache = tmp_path / "models"
    monkeypatch.setenv("ASYNCLLM_MODEL_CACHE_DIR", str(cache))
    monkeypatch.setenv("ASYNCLLM_PROGRESS", "off")
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "ASYNCLLM_MODEL_SOURCE_TOKEN",
                "LAZYLLM_MODEL_SOURCE_TOKEN", "ASYNCLLM_MODEL_SOURCE", "LAZYLLM_MODEL_SOURCE"):
        monkeypatch.delenv(var, raising=False)
    yield cache


def _leftovers(cache: Path) -> list[Path]:
    partial = cache / ".partial"
    return sorted(partial.iterdir()) if partial.is_dir() else []


@pytest.mark.slow
async def test_a_hub_model_is_downloaded_then_served_and_called(
        tiny_bert: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_fake_hub(FakeHub({"fakeorg/tiny-embed-bert": Repo.from_dir(tiny_bert)})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        m = al.TrainableModule("fakeorg/tiny-embed-bert", source="huggingface")
        assert m.type == "embed"
        async with m:
            vector = await m("hello world")
        assert isinstance(vector, list) and len(vector) == 32
        folder = hub_env / "fakeorg" / "tiny-embed-bert"
        assert (folder / MARKER).is_file() and (folder / "config.json").is_file()
        assert (folder / "model.safetensors").read_bytes() == (tiny_bert / "model.safetensors").read_bytes()
        assert not (folder / ".cache").exists() and _leftovers(hub_env) == []
        # From now on the name resolves to the cache, with no request to the hub.
        seen = len(hub.requests)
        assert al.trainable.resolve_model("fakeorg/tiny-embed-bert").path == str(folder.resolve())
        assert len(hub.requests) == seen


async def test_download_fetches_every_file_once(tmp_path: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"config.json": b'{"model_type": "bert"}', "sub/weights.bin": os.urandom(200_000)}
    async with running_fake_hub(FakeHub({"org/repo": Repo(files)})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        path = await hubmod.download(HubName("org/repo"))
        assert path == hub_env / "org" / "repo"
        for name, data in files.items():
            assert (path / name).read_bytes() == data
        gets = [p for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p]
        assert sorted(gets) == sorted(f"/org/repo/resolve/{Repo(files).sha}/{n}" for n in files)
        # A second call finds the complete copy and asks the hub nothing.
        seen = len(hub.requests)
        assert await hubmod.download(HubName("org/repo")) == path and len(hub.requests) == seen


async def test_one_gguf_of_many_is_fetched_alone(hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    files = {"m.Q4_K_M.gguf": b"GGUF-q4", "m.Q8_0.gguf": b"GGUF-q8", "README.md": b"# m"}
    async with running_fake_hub(FakeHub({"org/m-GGUF": Repo(files)})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        hub_name = parse_hub_name("org/m-GGUF/m.Q8_0.gguf")
        assert hub_name == HubName("org/m-GGUF", "m.Q8_0.gguf")
        path = await hubmod.download(hub_name)
        assert path == hub_env / "org" / "m-GGUF" / "m.Q8_0.gguf" and path.read_bytes() == b"GGUF-q8"
        assert [p for m, p, _ in hub.requests if m == "GET" and "/resolve/" in p] == [
            f"/org/m-GGUF/resolve/{Repo(files).sha}/m.Q8_0.gguf"]
        # The other quantisation later joins the same folder.
        other = await hubmod.download(HubName("org/m-GGUF", "m.Q4_K_M.gguf"))
        assert other.read_bytes() == b"GGUF-q4" and path.read_bytes() == b"GGUF-q8"
        # The whole repository holds two GGUFs: naming none of them is a question, not a guess.
        with pytest.raises(al.ConfigError, match="several GGUF files"):
            hubmod.downloaded(HubName("org/m-GGUF"))


async def test_an_unreachable_hub_is_a_typed_error_naming_the_endpoint(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    m = al.TrainableModule("someorg/some-embed-model").deploy_method(al.deploy.embedding)
    with pytest.raises(al.LifecycleError) as info:
        await m.start()
    err = info.value.__cause__
    assert isinstance(err, al.ModelHubUnreachableError), repr(err)
    assert "cannot reach" in str(err) and "HF_ENDPOINT" in str(err) and "/path/to/some-embed-model" in str(err)
    assert "Traceback" not in str(err) and len(str(err).splitlines()) == 1
    assert err.repo == "someorg/some-embed-model" and err.source == "huggingface"
    assert m.engine is None and _leftovers(hub_env) == [] and not (hub_env / "someorg").exists()


async def test_a_missing_repository_is_not_found_naming_the_name_and_a_token(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_fake_hub(FakeHub()) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        m = al.TrainableModule("nobody/no-such-embed").deploy_method(al.deploy.embedding)
        with pytest.raises(al.LifecycleError) as info:
            await m.start()
        err = info.value.__cause__
        assert isinstance(err, al.ModelNotFoundError), repr(err)
        assert "'nobody/no-such-embed'" in str(err) and "HF_TOKEN" in str(err)
        assert hub.requests[0][:2] == ("GET", "/api/models/nobody/no-such-embed")
        assert _leftovers(hub_env) == []


async def test_a_gated_repository_needs_a_token_that_is_never_shown(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gated = Repo({"config.json": b"{}", "w.bin": b"weights"}, gated=True)
    async with running_fake_hub(FakeHub({"corp/gated-embed": gated}, tokens={TOKEN})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        # No token: refused, and the message says which setting takes one.
        with pytest.raises(al.ModelAccessError, match="HF_TOKEN") as info:
            await hubmod.download(HubName("corp/gated-embed"))
        assert "gated" in str(info.value)
        # A wrong token (through our setting): refused; it reached the hub, and nowhere else.
        wrong = "hf_WrongToken9876543210"
        monkeypatch.setenv("ASYNCLLM_MODEL_SOURCE_TOKEN", wrong)
        with pytest.raises(al.ModelAccessError) as info:
            await hubmod.download(HubName("corp/gated-embed"))
        assert ("GET", "/api/models/corp/gated-embed", f"Bearer {wrong}") in hub.requests
        assert wrong not in str(info.value) and wrong not in repr(info.value)
        log = hub_env / ".logs" / "corp--gated-embed.log"
        assert log.is_file() and wrong not in log.read_text()
        argv = hubmod.worker_command(HubName("corp/gated-embed"), source="huggingface", staging=Path("/s"),
                                     dest=Path("/d"))
        assert not any(wrong in a for a in argv)
        # The right one opens it.
        monkeypatch.setenv("ASYNCLLM_MODEL_SOURCE_TOKEN", TOKEN)
        path = await hubmod.download(HubName("corp/gated-embed"))
        assert (path / "w.bin").read_bytes() == b"weights"
        assert TOKEN not in log.read_text()


async def test_a_cancelled_download_leaves_nothing_taken_for_the_model(
        hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = os.urandom(4 * 1024 * 1024)
    hub_state = FakeHub({"org/big-embed": Repo({"config.json": b"{}", "big.bin": data})}, chunk_delay=0.05)
    async with running_fake_hub(hub_state) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        async with anyio.create_task_group() as tg:
            tg.start_soon(hubmod.download, HubName("org/big-embed"))
            await hub.body_started.wait()  # the worker is writing the file now
            tg.cancel_scope.cancel()
        dest = hub_env / "org" / "big-embed"
        assert not dest.exists() and _leftovers(hub_env) == []
        assert hubmod.downloaded(HubName("org/big-embed")) is None
        with pytest.raises(al.ConfigError):
            al.trainable.resolve_model("org/big-embed")
        # The next attempt downloads it whole.
        hub.chunk_delay = 0.0
        path = await hubmod.download(HubName("org/big-embed"))
        assert (path / "big.bin").read_bytes() == data


async def test_progress_shows_the_download(hub_env: Path, monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ASYNCLLM_PROGRESS", "plain")
    data = os.urandom(3 * 1024 * 1024)
    async with running_fake_hub(FakeHub({"org/slow": Repo({"w.bin": data})}, chunk_delay=0.06)) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        await hubmod.download(HubName("org/slow"))
    err = capsys.readouterr().err
    assert "asyncllm: downloading org/slow" in err and "/4 MB" in err and "done" in err, err


def test_hub_names_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_hub_name("Qwen/Qwen2.5-0.5B-Instruct") == HubName("Qwen/Qwen2.5-0.5B-Instruct")
    assert parse_hub_name("org/repo/file.gguf") == HubName("org/repo", "file.gguf")
    for not_hub in ("SmolLM2-135M-Instruct", "/abs/model", "./rel/model", "a/b/c", "org/x.gguf", "~/m/x"):
        assert parse_hub_name(not_hub) is None, not_hub
    monkeypatch.chdir(tmp_path)
    (tmp_path / "models").mkdir()
    assert parse_hub_name("models/mine") is None  # a local folder, not an organisation
    with pytest.raises(al.ConfigError, match="huggingface, modelscope"):
        al.TrainableModule("org/m", source="civitai")
    monkeypatch.setenv("LAZYLLM_MODEL_SOURCE", "modelscope")  # the seed's variable is read too
    assert hubmod.source_of(None) == "modelscope"


async def test_modelscope_without_its_package_names_the_install(hub_env: Path) -> None:
    import importlib.util

    if importlib.util.find_spec("modelscope") is not None:
        pytest.skip("modelscope is installed here")
    with pytest.raises(al.MissingDependencyError, match=r"pip install 'asyncllm\[modelscope\]'"):
        await hubmod.download(HubName("qwen/Qwen2-0.5B"), source="modelscope")


async def test_without_trust_remote_code_nothing_is_downloaded(
        tmp_path: Path, hub_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The seed's meaning: trust_remote_code=False takes the name as is (no download).
    data = tmp_path / "d.json"
    data.write_text('[{"instruction": "a", "output": "b"}]')
    async with running_fake_hub(FakeHub({"org/some-model": Repo({"config.json": b"{}"})})) as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        for trust in (False, True):
            m = (al.TrainableModule("org/some-model", str(tmp_path / "out"), trust_remote_code=trust)
                 .finetune_method(al.finetune.cpu_lora, steps=1).trainset(str(data)))
            with pytest.raises(al.LifecycleError) as info:
                await m.update()
            if not trust:
                assert "not a known name" in str(info.value.__cause__) and hub.requests == []
            else:  # downloaded, then cpu_lora says what it tunes
                assert "GGUF" in str(info.value.__cause__) and (hub_env / "org" / "some-model" / MARKER).is_file()


def test_trust_remote_code_reaches_the_engines_that_take_it() -> None:
    def argv(m: al.TrainableModule, engine: type[al.deploy.Deployer], model: str) -> list[str]:
        m.deploy_method(engine)
        return m._impl._deployer(model).command(model, 1, None)

    on, off = al.TrainableModule("org/m"), al.TrainableModule("org/m", trust_remote_code=False)
    assert "--trust-remote-code" in argv(on, al.deploy.vllm, "/m")
    assert "--trust-remote-code" not in argv(off, al.deploy.vllm, "/m")
    assert "--trust_remote_code" in argv(on, al.deploy.lightllm, "/m")
    emb = al.TrainableModule("org/m-embed")
    assert "--trust-remote-code" in argv(emb, al.deploy.embedding, "/m")
    assert not any("trust" in a for a in argv(on, al.deploy.llamacpp, "/m.gguf"))  # llama.cpp has no such option
