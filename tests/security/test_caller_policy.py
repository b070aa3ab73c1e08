"""What a caller can make a served module do with the server's keys and budget.

The served module is an online chat module holding the server's provider key. An attacker
with the server's own bearer key (a legitimate client turned hostile) tries every way a call
can carry more than its input: keyword arguments, ``al.kwargs`` values hidden in the input,
the session header's per-module parameters, the OpenAI face's fields, a marked method's and a
route's open keywords. ``evil`` plays the attacker's host: nothing may ever reach it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import security_targets as t
from fakeprovider.server import FakeServer
from fakeprovider.state import key_tag

import asyncllm as al
from asyncllm.serving import ServerModule, SubprocessLauncher, UrlModule
from asyncllm.serving.wire import SESSION_HEADER, encode_session

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

KEY = "sk-sec-0123456789abcdef"
AUTH = {"authorization": f"Bearer {KEY}"}


@asynccontextmanager
async def served_chat(launcher: str, fake: FakeServer, monkeypatch: pytest.MonkeyPatch,
                      **options: Any) -> AsyncIterator[tuple[ServerModule, httpx.AsyncClient]]:
    """The chat module served with ``options``, and a raw client holding the server's key."""
    monkeypatch.setenv("SEC_FAKE_URL", str(fake))
    chosen = SubprocessLauncher(env={"SEC_FAKE_URL": str(fake)}) if launcher == "subprocess" else launcher
    async with ServerModule("security_targets:chat", launcher=chosen, security_key=KEY, **options) as s, \
            httpx.AsyncClient(base_url=s.url, headers=AUTH, timeout=30) as c:
        yield s, c


def refused(r: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["type"] == type_, err
    assert "x-should-retry" not in r.headers or r.headers["x-should-retry"] == "false"
    return err  # type: ignore[no-any-return]


def kwargs_tag(value: dict[str, Any]) -> dict[str, Any]:
    return {"__asyncllm__": "kwargs", "value": value}


async def test_base_url_never_takes_the_key_elsewhere(launcher: str, fake: FakeServer, evil: FakeServer,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    async with served_chat(launcher, fake, monkeypatch) as (s, c):
        ids = (await c.get("/info")).json()["module_ids"]
        away = {"base_url": evil + "/v1/"}
        header = {SESSION_HEADER: encode_session({"global_parameters": {i: away for i in ids}})}
        attacks: list[tuple[dict[str, Any], dict[str, str]]] = [
            ({"args": ["hi"], "kwargs": away}, {}),
            ({"args": [kwargs_tag(away)]}, {}),  # al.kwargs as the input: it becomes keywords
            ({"args": [{"__asyncllm__": "package", "items": [kwargs_tag(away)]}]}, {}),
            ({"args": ["hi"]}, header),  # the session's per-module parameters
            ({"args": ["hi"], "kwargs": {"api_key": "sk-attacker"}}, {}),
            ({"args": ["hi"], "kwargs": {"model": "gpt-expensive"}}, {}),
        ]
        for body, headers in attacks:
            err = refused(await c.post("/generate", json=body, headers=headers), 403, "ParameterNotAllowed")
            assert "al.CallerPolicy(params=" in err["message"] and err["parameter"] in err["message"]
        # The OpenAI face has no such field: it is ignored, and nothing goes elsewhere either.
        r = await c.post("/v1/chat/completions", json={"model": "x", "base_url": evil + "/v1/",
                                                       "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code == 200, r.text
        # The client side sees a typed, non-retried error that names the parameter.
        with pytest.raises(al.PermissionDeniedError) as info:
            await UrlModule(url=s.url, security_key=KEY)("hi", base_url=evil + "/v1/")
        assert info.value.error_type == "ParameterNotAllowed" and "base_url" in str(info.value)
        # and the legitimate call works, with the server's key, at the server's provider
        assert (await c.post("/generate", json={"args": ["hi"]})).json()["output"] == "fake reply to: hi"
        assert fake.state.requests[-1]["key"] == key_tag(t.PROVIDER_KEY)
    assert evil.state.requests == []


async def test_cost_parameters_are_refused_then_capped(launcher: str, fake: FakeServer,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    async with served_chat(launcher, fake, monkeypatch) as (_, c):
        for name, value in (("max_tokens", 100_000), ("n", 64), ("timeout", 1e9)):
            err = refused(await c.post("/generate", json={"args": ["hi"], "kwargs": {name: value}}),
                          403, "ParameterNotAllowed")
            assert err["parameter"] == name
    opened = al.CallerPolicy(params={"max_tokens", "n", "timeout", "temperature"})
    async with served_chat(launcher, fake, monkeypatch, caller=opened) as (_, c):
        for name, value in (("max_tokens", 100_000), ("n", 64), ("timeout", 1e9)):
            err = refused(await c.post("/generate", json={"args": ["hi"], "kwargs": {name: value}}),
                          403, "ParameterAboveCap")
            assert "caps=" in err["message"]
        refused(await c.post("/generate", json={"args": ["hi"], "kwargs": {"max_tokens": "lots"}}),
                400, "BadRequest")
        seen = len(fake.state.requests)
        r = await c.post("/generate", json={"args": ["hi"], "kwargs": {"max_tokens": 50, "temperature": 0.2}})
        assert r.status_code == 200, r.text
        assert len(fake.state.requests) == seen + 1  # only the admitted call went upstream
        body = fake.state.requests[-1]["body"]
        assert body["max_tokens"] == 50 and body["temperature"] == 0.2
    tight = al.CallerPolicy(params={"max_tokens"}, caps={"max_tokens": 10})
    async with served_chat(launcher, fake, monkeypatch, caller=tight) as (_, c):
        refused(await c.post("/generate", json={"args": ["hi"], "kwargs": {"max_tokens": 20}}),
                403, "ParameterAboveCap")
        assert (await c.post("/generate", json={"args": ["hi"], "kwargs": {"max_tokens": 10}})).status_code == 200


async def test_openai_face_sampling_fields_follow_the_policy(fake: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    ask = {"model": "x", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 100_000, "temperature": 2}
    async with served_chat("inprocess", fake, monkeypatch) as (_, c):
        assert (await c.post("/v1/chat/completions", json=ask)).status_code == 200
        body = fake.state.requests[-1]["body"]
        assert "max_tokens" not in body and "temperature" not in body  # not opened: not forwarded
    opened = al.CallerPolicy(params={"max_tokens", "temperature"})
    async with served_chat("inprocess", fake, monkeypatch, caller=opened) as (_, c):
        refused(await c.post("/v1/chat/completions", json=ask), 403, "ParameterAboveCap")
        assert (await c.post("/v1/chat/completions", json={**ask, "max_tokens": 30})).status_code == 200
        body = fake.state.requests[-1]["body"]
        assert body["max_tokens"] == 30 and body["temperature"] == 2


async def test_marked_methods_and_routes_open_only_what_they_name(launcher: str) -> None:
    async with ServerModule(t.tools, launcher=launcher, security_key=KEY) as s, \
            httpx.AsyncClient(base_url=s.url, headers=AUTH) as c:
        client = UrlModule(url=s.url, security_key=KEY)
        assert await client._call("lookup", key="k") == {"key": "k", "extra": {}}
        with pytest.raises(al.PermissionDeniedError, match="base_url"):
            await client._call("lookup", "k", base_url="http://127.0.0.1:9/v1/")
        r = await c.post("/search", json={"q": "x", "limit": 5})
        assert r.json() == {"q": "x", "limit": 5, "extra": {}}
        refused(await c.post("/search", json={"q": "x", "api_key": "sk-attacker"}), 403, "ParameterNotAllowed")
    async with ServerModule(t.tools, launcher=launcher, caller=al.CallerPolicy(params={"lang"})) as s, \
            httpx.AsyncClient(base_url=s.url) as c:
        r = await c.post("/search", json={"q": "x", "lang": "en"})
        assert r.json() == {"q": "x", "limit": 3, "extra": {"lang": "en"}}


async def test_session_header_entries_for_unknown_modules_reach_nothing(launcher: str) -> None:
    async with ServerModule(t.echo, launcher=launcher, caller=al.CallerPolicy(params={"x"})) as s, \
            httpx.AsyncClient(base_url=s.url) as c:
        header = encode_session({"global_parameters": {"not-a-served-module": {"base_url": "http://127.0.0.1:9"}},
                                 "files": {"not-a-served-module": ["/etc/passwd"]}})
        r = await c.post("/generate", json={"args": [1]}, headers={SESSION_HEADER: header})
        assert r.json()["output"] == {"args": [1], "kw": {}}
        refused(await c.post("/generate", json={"args": [1], "extra": True}), 400, "BadRequest")  # body schema
