"""What a caller can do with input the server cannot handle: deeply nested JSON is a 400, and
a request that hits a bug inside the server is a typed 500 logged at most once per interval,
never a plain-text 500 with a traceback per request."""

from __future__ import annotations

import logging

import httpx
import pytest
import security_targets as t

from asyncllm.serving import ServerModule, _logging
from asyncllm.serving.app import ServedApp

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]


async def test_deeply_nested_input_is_a_400(launcher: str) -> None:
    async with ServerModule(t.echo, launcher=launcher) as s, httpx.AsyncClient(base_url=s.url) as c:
        for depth in (600, 1000):  # orjson reads up to 1024 levels; Python would recurse past its limit
            body = b'{"args": [' + b"[" * depth + b"1" + b"]" * depth + b"]}"
            r = await c.post("/generate", content=body, headers={"content-type": "application/json"})
            assert r.status_code == 400 and "nested too deeply" in r.json()["error"]["message"], r.text
        assert (await c.post("/generate", json={"args": [[[1]]]})).json()["output"] == {"args": [[[1]]], "kw": {}}


async def test_a_server_bug_is_a_typed_500_logged_without_a_flood(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    def broken(*args: object, **kw: object) -> None:
        raise RuntimeError("a bug in the server")

    caplog.set_level(logging.ERROR, logger="asyncllm.serving")
    monkeypatch.setattr(_logging, "_last_logged", {})  # a fresh throttle interval for this test
    monkeypatch.setattr(_logging, "_suppressed", {})
    original = ServedApp.__dict__["parse_call"]
    async with ServerModule(t.echo) as s, httpx.AsyncClient(base_url=s.url) as c:
        monkeypatch.setattr(ServedApp, "parse_call", staticmethod(broken))
        for _ in range(30):
            r = await c.post("/generate", json={"args": [1]})
            assert r.status_code == 500 and r.headers["content-type"] == "application/json"
            assert r.headers["x-should-retry"] == "false"
            assert r.json()["error"] == {"type": "InternalError", "message": "the server failed to handle this request"}
        monkeypatch.setattr(ServedApp, "parse_call", original)
        assert (await c.post("/generate", json={"args": [1]})).status_code == 200  # still serving
    failures = [rec for rec in caplog.records if "failed inside the server" in rec.getMessage()]
    assert len(failures) == 1 and "a bug in the server" not in r.text
