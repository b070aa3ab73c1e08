"""The OpenAI-compatible face, called with the real ``openai`` SDK."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
import serving_targets as t

from asyncllm.serving import ServerModule

openai = pytest.importorskip("openai")

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


def _sdk_calls(base: str, key: str) -> dict[str, Any]:
    # The sync SDK in a worker thread: the same on both backends, and it never blocks our loop.
    with openai.OpenAI(base_url=f"{base}/v1", api_key=key, max_retries=0, timeout=10) as client:
        models = [m.id for m in client.models.list()]
        messages: Any = [{"role": "system", "content": "be brief"},
                         {"role": "user", "content": "hi"},
                         {"role": "assistant", "content": "hello"},
                         {"role": "user", "content": "ping"}]
        done = client.chat.completions.create(model="chat", messages=messages)
        pieces = [c.choices[0].delta.content or "" for c in
                  client.chat.completions.create(model="chat", messages=messages, stream=True) if c.choices]
        with_usage = list(client.chat.completions.create(
            model="chat", messages=[{"role": "user", "content": "x"}], stream=True,
            stream_options={"include_usage": True}))
        bad_key = None
        try:
            with openai.OpenAI(base_url=f"{base}/v1", api_key="sk-wrong", max_retries=0) as other:
                other.models.list()
        except openai.AuthenticationError as exc:
            bad_key = exc.status_code
        return {"models": models, "done": done, "pieces": pieces, "with_usage": with_usage, "bad_key": bad_key}


async def test_openai_sdk_talks_to_served_pipeline(launcher: str) -> None:
    async with ServerModule(t.chat_pipeline, launcher=launcher, security_key=True, name="chat-pipe") as s:
        assert s.security_key
        r = await anyio.to_thread.run_sync(_sdk_calls, s.url, s.security_key)
    assert r["models"] == ["chat-pipe"]
    done = r["done"]
    assert done.object == "chat.completion"
    assert done.id.startswith("chatcmpl-") and len(done.id) == len("chatcmpl-") + 32  # _ids.new_id
    assert done.choices[0].message.content == "echo ping after 3 messages!"  # history: 3 earlier messages
    assert done.choices[0].finish_reason == "stop"
    assert "".join(r["pieces"]) == "echo ping after 3 messages"  # the streamed tokens of the inner module
    assert len(r["pieces"]) > 3
    assert r["with_usage"][-1].usage is not None
    assert r["bad_key"] == 401


def _sdk_plain(base: str) -> tuple[str, str]:
    with openai.OpenAI(base_url=f"{base}/v1", api_key="unused", max_retries=0, timeout=10) as client:
        done = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "ab"}])
        streamed = "".join(c.choices[0].delta.content or "" for c in client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": [{"type": "text", "text": "cd"}]}], stream=True)
            if c.choices)
        return done.choices[0].message.content or "", streamed


async def test_openai_face_on_plain_function_and_errors() -> None:
    async with ServerModule(t.double) as s:
        assert await anyio.to_thread.run_sync(_sdk_plain, s.url) == ("abab", "cdcd")

    def fail(base: str) -> str:
        with openai.OpenAI(base_url=f"{base}/v1", api_key="k", max_retries=0, timeout=10) as client:
            try:
                client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
            except openai.InternalServerError as exc:
                return str(exc)
            return ""

    async with ServerModule(t.boom) as s:
        assert "boom on x" in await anyio.to_thread.run_sync(fail, s.url)
