"""``POST /generate`` enforces its body schema: a key it does not take is a 400 naming the ones it
does, and the module is never called (it used to be called with no arguments and answer 500)."""

from __future__ import annotations

import httpx
import pytest

from asyncllm.serving import ServerModule

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

calls: list[object] = []


def echo(x: object) -> object:
    calls.append(x)
    return x


async def test_unknown_body_keys_are_a_400_naming_the_allowed_ones() -> None:
    calls.clear()
    async with ServerModule(echo) as s, httpx.AsyncClient(base_url=s.url, timeout=10) as c:
        r = await c.post("/generate", json={"input": "bob"})
        assert r.status_code == 400
        error = r.json()["error"]
        assert error["type"] == "BadRequest"
        assert "'input'" in error["message"] and "args" in error["message"] and "kwargs" in error["message"]
        assert calls == []
        assert (await c.post("/generate", json={"args": ["bob"]})).json() == {"output": "bob"}
        assert calls == ["bob"]
