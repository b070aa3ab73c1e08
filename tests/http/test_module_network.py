"""The network settings as module keywords: ``proxy=``, ``verify=``, ``http_client=``, and the
seed's ``NO_PROXY = True`` class attribute, for chat and embedding providers on both backends."""

from __future__ import annotations

from typing import ClassVar

import httpx
import pytest
from fakeprovider.server import FakeServer
from fakeprovider.state import DEFAULT_KEY
from loopback_proxy import RunningProxy
from nethelpers import TLSFiles

from asyncllm.online import OnlineChatModule, OnlineEmbeddingModule
from asyncllm.online.compatible import OpenAICompatibleChat, OpenAICompatibleEmbedding

pytestmark = pytest.mark.anyio


class DirectChat(OpenAICompatibleChat):
    """A provider written the seed's way: its calls never take a proxy from the environment."""

    NO_PROXY: ClassVar[bool] = True


class DirectEmbed(OpenAICompatibleEmbedding):
    NO_PROXY: ClassVar[bool] = True


async def test_module_proxy_keyword(fake: FakeServer, proxy: RunningProxy) -> None:
    chat = OnlineChatModule(base_url=f"{fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY, proxy=proxy)
    emb = OnlineEmbeddingModule(embed_url=f"{fake}/v1/embeddings", api_key=DEFAULT_KEY, proxy=proxy)
    assert await chat("hi") == "fake reply to: hi"
    assert len(await emb("text")) > 0
    assert [t.rsplit("/", 1)[1] for t in proxy.state.targets()] == ["completions", "embeddings"]


async def test_seed_no_proxy_class_attribute(fake: FakeServer, proxy: RunningProxy,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    assert await DirectChat(base_url=f"{fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY)("hi") == \
        "fake reply to: hi"
    assert len(await DirectEmbed(f"{fake}/v1/embeddings", api_key=DEFAULT_KEY)("x")) > 0
    assert proxy.state.requests == []
    # the same provider without the switch takes the environment's proxy ...
    plain = OpenAICompatibleChat(base_url=f"{fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY)
    assert await plain("hi") == "fake reply to: hi"
    assert len(proxy.state.requests) == 1
    # ... and an explicit proxy beats the switch
    assert await DirectChat(base_url=f"{fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY, proxy=proxy)("hi")
    assert len(proxy.state.requests) == 2


async def test_module_verify_and_own_client(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    chat = OnlineChatModule(base_url=f"{tls_fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY,
                            verify=tls_files.ca_pem, stream=True)
    assert await chat("over tls") == "fake reply to: over tls"
    seen: list[str] = []

    async def hook(r: httpx.Request) -> None:
        seen.append(r.url.path)

    import ssl

    async with httpx.AsyncClient(verify=ssl.create_default_context(cafile=tls_files.ca_pem),
                                 event_hooks={"request": [hook]}) as client:
        own = OnlineChatModule(base_url=f"{tls_fake}/v1/", model="fake-chat", api_key=DEFAULT_KEY,
                               http_client=client)
        assert await own("mine") == "fake reply to: mine"
    assert seen == ["/v1/chat/completions"]


def _double(x: int) -> int:
    return 2 * x


async def test_served_modules_and_engines_ignore_the_environment_proxy(
        proxy: RunningProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    # HTTP(S)_PROXY names the way to the internet; a served module or a local engine is ours, and
    # a proxy on the way would see its key and every prompt (the seed's UrlModule went direct too).
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("HTTPS_PROXY", proxy)
    import asyncllm as al
    from asyncllm import HTTPSettings, UrlModule

    async with al.ServerModule(_double) as served:
        assert await served(4) == 8
        assert await UrlModule(url=served.url)(5) == 10
        assert proxy.state.requests == []
        # opting in: the environment's proxy when the caller asks for it
        assert await UrlModule(url=served.url, settings=HTTPSettings(proxy="env"))(6) == 12
        assert len(proxy.state.requests) == 1
    m = al.TrainableModule().deploy_method(al.deploy.dummy).prompt(None)
    try:
        await m.start()
        assert isinstance(await m("hello"), str)
    finally:
        await m.stop()
    assert len(proxy.state.requests) == 1
