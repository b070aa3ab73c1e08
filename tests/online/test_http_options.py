"""The network options (``HTTPOptions``) as every online module's keywords: each one reaches the
module's settings, a misspelt one is a TypeError that teaches the fix, and the embedding
modules take ``idle_timeout`` too (it bounds a whole body's reads)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import anyio
import pytest
from anyio.abc import SocketStream

import asyncllm as al
from asyncllm import APITimeoutError, ConfigError
from asyncllm._http import HTTPOptions, HTTPSettings
from asyncllm.online.compatible import OpenAICompatibleEmbedding
from asyncllm.online.openai import OpenAIChat, OpenAIEmbedding

KEY = "sk-test"

_BUILDERS: dict[str, tuple[Callable[..., Any], str]] = {
    "chat class": (lambda **kw: OpenAIChat("gpt-x", api_key=KEY, **kw), "OpenAIChat"),
    "embed class": (lambda **kw: OpenAIEmbedding(None, "emb-x", api_key=KEY, **kw), "OpenAIEmbedding"),
    "chat factory": (lambda **kw: al.OnlineChatModule(source="openai", api_key=KEY, **kw), "OpenAIChat"),
    "embed factory": (lambda **kw: al.OnlineEmbeddingModule(source="openai", api_key=KEY, **kw), "OpenAIEmbedding"),
}
_NETWORK = "timeout, connect_timeout, first_chunk_timeout, idle_timeout, max_retries, retry_backoff, proxy, " \
           "verify, cert, http_client"


@pytest.mark.parametrize("how", list(_BUILDERS))
def test_a_misspelt_option_names_the_class_the_keyword_and_the_fix(how: str) -> None:
    build, cls = _BUILDERS[how]
    with pytest.raises(TypeError) as ei:
        build(proxxy=None)
    msg = str(ei.value)
    assert msg.startswith(f"{cls}() got an unexpected keyword argument 'proxxy' (did you mean 'proxy'?)")
    assert f"Network options: {_NETWORK}" in msg
    assert "http_settings" not in msg and "_init_provider" not in msg  # never an internal function
    # a misspelt constructor keyword lands in **http too, and is named with its own fix
    with pytest.raises(TypeError, match=r"'api_kye' \(did you mean 'api_key'\?\), 'idle_timout' "
                                        r"\(did you mean 'idle_timeout'\?\)"):
        build(api_kye=KEY, idle_timout=1.0)


@pytest.mark.parametrize("how", list(_BUILDERS))
def test_every_option_reaches_the_settings(how: str) -> None:
    build, _ = _BUILDERS[how]
    options: HTTPOptions = {"timeout": 7.0, "connect_timeout": 1.5, "first_chunk_timeout": 2.5, "idle_timeout": 3.5,
                            "max_retries": 4, "retry_backoff": 0.25, "proxy": "http://127.0.0.1:9",
                            "verify": False, "cert": "/client.pem", "http_client": None}
    s: HTTPSettings = build(**options)._http
    assert (s.total_timeout, s.connect_timeout, s.first_chunk_timeout, s.idle_timeout, s.max_attempts,
            s.backoff_base, s.proxy, s.verify, s.cert, s.client) == \
        (7.0, 1.5, 2.5, 3.5, 5, 0.25, "http://127.0.0.1:9", False, "/client.pem", None)
    with al.config.override(http_idle_timeout=11.0, http_total_timeout=22.0):
        d = build()._http  # left out: the configured defaults, the environment's proxy
    assert (d.idle_timeout, d.total_timeout, d.proxy, d.verify) == (11.0, 22.0, "env", True)


def test_an_option_given_to_a_network_keyword_is_named() -> None:
    with pytest.raises(ConfigError, match="OpenAIChat: timeout cannot take an Option"):
        al.OnlineChatModule(source="openai", api_key=KEY, timeout=al.Option([1.0, 2.0]))


@pytest.mark.anyio
async def test_embedding_idle_timeout_bounds_the_reads_of_a_whole_body() -> None:
    """An embeddings answer that stops half-way is cut at ``idle_timeout``, not left to the
    first-chunk or total deadline (minutes by default)."""

    async def half_answer(conn: SocketStream) -> None:
        async with conn:
            got = b""
            while b"\r\n\r\n" not in got:
                got += await conn.receive()
            await conn.send(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n"
                            b'{"object": "list", "data": [')
            await anyio.sleep_forever()

    listener = await anyio.create_tcp_listener(local_host="127.0.0.1")
    port = listener.extra(anyio.abc.SocketAttribute.local_port)
    async with listener, anyio.create_task_group() as tg:
        tg.start_soon(listener.serve, half_answer)
        emb = OpenAICompatibleEmbedding(f"http://127.0.0.1:{port}/v1/embeddings", skip_auth=True, proxy=None,
                                        idle_timeout=0.2, max_retries=0)
        with anyio.fail_after(30), pytest.raises(APITimeoutError) as ei:
            await emb("text")
        assert ei.value.kind == "idle"
        tg.cancel_scope.cancel()
    await al.aclose()
