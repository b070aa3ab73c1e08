"""The bad-input suite and error mapping: every bad request gets a 4xx JSON error, failures
come back typed, secrets and server paths stay out, and the server keeps serving."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import anyio
import httpx
import pytest
import serving_targets as t

import asyncllm as al
from asyncllm._exceptions import InternalServerError
from asyncllm.serving import ServedModuleError, ServerModule, UrlModule, WireError

pytestmark = [pytest.mark.anyio, pytest.mark.usefixtures("pools")]

KEY = "sk-test-0123456789abcdef"


def _err(r: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    body = r.json()["error"]
    assert body["type"] == type_, body
    return body  # type: ignore[no-any-return]


async def _raw_status(port: int, request: bytes) -> int:
    """Send raw bytes, return the answer's status code (httpx cannot read an answer that
    arrives while it is still sending)."""
    async with await anyio.connect_tcp("127.0.0.1", port) as conn:
        with anyio.fail_after(10):
            await conn.send(request)
            data = b""
            while b"\r\n" not in data:
                data += await conn.receive()
    return int(data.split(b" ", 2)[1])


async def _chunks(n: int, size: int) -> AsyncIterator[bytes]:
    for _ in range(n):
        yield b"x" * size


async def test_bad_input_suite(launcher: str) -> None:
    s = ServerModule(t.guarded_counter, launcher=launcher, security_key=KEY, max_body_bytes=64 * 1024,
                     max_header_bytes=32 * 1024)
    auth = {"authorization": f"Bearer {KEY}"}
    async with s, httpx.AsyncClient(base_url=s.url, timeout=10) as c:
        gen = "/generate"
        assert (await c.get("/health")).json() == {"status": "ok"}  # open without the key
        for path, method in ((gen, "POST"), ("/_call", "POST"), ("/info", "GET"), ("/v1/models", "GET"),
                             ("/count", "GET"), ("/nope", "GET")):
            _err(await c.request(method, path, json={}), 401, "AuthenticationFailed")
            r = await c.request(method, path, json={}, headers={"authorization": "Bearer sk-wrong"})
            assert "sk-wrong" not in r.text and KEY not in r.text
            _err(r, 401, "AuthenticationFailed")
        assert (await c.post(gen, json={"args": [1]}, headers=auth)).json() == {"output": 1}

        _err(await c.post(gen, content=b"{not json", headers={**auth, "content-type": "application/json"}),
             400, "InvalidJSON")
        _err(await c.post(gen, content=b'{"args": [1]}', headers={**auth, "content-type": "text/plain"}),
             415, "UnsupportedMediaType")
        _err(await c.post(gen, json=[1, 2], headers=auth), 400, "BadRequest")
        _err(await c.post(gen, json={"args": "x"}, headers=auth), 400, "BadRequest")
        _err(await c.post(gen, json={"args": [{"__asyncllm__": "pickle"}]}, headers=auth), 400, "BadRequest")
        _err(await c.post(gen, json={"args": ["x" * 100_000]}, headers=auth), 413, "BodyTooLarge")
        try:  # chunked, no content-length: counted while reading, refused once past the limit
            r = await c.post(gen, content=_chunks(100, 1024), headers={**auth, "content-type": "application/json"})
        except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError):
            pass  # the server answered 413 and closed while the client was still sending
        else:
            _err(r, 413, "BodyTooLarge")
        _err(await c.post(gen, json={"args": [1]}, headers={**auth, "x-big": "y" * 40_000}),
             431, "HeadersTooLarge")
        port = int(s.url.rsplit(":", 1)[1])  # past hypercorn's own header limit: still a 4xx
        status = await _raw_status(port, b"GET /health HTTP/1.1\r\nhost: x\r\nx-huge: " + b"y" * 200_000 + b"\r\n\r\n")
        assert status == 431
        _err(await c.post(gen, json={"args": [1]}, headers={**auth, "x-asyncllm-session": "%%%"}),
             400, "BadSessionHeader")
        _err(await c.get(gen, headers=auth), 405, "MethodNotAllowed")
        _err(await c.get("/nope", headers=auth), 404, "NotFound")
        for name in ("secret", "__init__", "_lock", "__class__", "n", 42):
            body = _err(await c.post("/_call", json={"method": name}, headers=auth), 404, "UnknownMethod")
            assert "bump" in body["message"]  # the message lists what is allowed
        body = b'{"args": [1]}'
        async with await anyio.connect_tcp("127.0.0.1", port) as conn:  # disconnect mid-stream
            await conn.send(b"POST /generate HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
                            b"accept: text/event-stream\r\nauthorization: Bearer " + KEY.encode() +
                            b"\r\ncontent-length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            with anyio.fail_after(10):
                assert b"200" in await conn.receive()
        client = UrlModule(url=s.url, security_key=KEY)
        assert await client(3) == 3  # still serving after all of the above
        with pytest.raises(al.NotFoundError, match="secret"):
            await client._call("secret")
        with pytest.raises(al.AuthenticationError) as info:
            await UrlModule(url=s.url, security_key="sk-wrong-key")(1)
        assert "sk-wrong-key" not in str(info.value)
        with pytest.raises(al.AuthenticationError):
            await UrlModule(url=s.url)(1)


async def test_failing_module_is_typed_and_hides_paths(launcher: str) -> None:
    async with ServerModule(t.boom, launcher=launcher) as s:
        with pytest.raises(ServedModuleError) as info:
            await s("x")
        err = info.value
        assert isinstance(err, al.ModuleExecutionError)
        assert err.remote_type == "ValueError" and err.status_code == 500
        assert "boom on x" in str(err) and "boom" in err.module
        assert t.__file__ not in str(err) and "<server>" in str(err)
        assert err.remote_traceback is None
        assert isinstance(err.__cause__, InternalServerError)
    async with ServerModule(t.boom, launcher=launcher, debug=True) as s:
        with pytest.raises(ServedModuleError) as info:
            await s("x")
        assert info.value.remote_traceback and "Traceback" in info.value.remote_traceback


async def test_failure_is_not_retried() -> None:
    calls = []

    def fails(x: Any) -> Any:
        calls.append(x)
        raise RuntimeError("once")

    async with ServerModule(fails) as s:
        with pytest.raises(ServedModuleError, match="RuntimeError: once"):
            await s(1)
    assert calls == [1]  # a failed module call is not repeated by the client's retry policy


async def test_values_that_are_not_json(launcher: str) -> None:
    async with ServerModule(t.not_json, launcher=launcher) as s:
        with pytest.raises(WireError, match="cannot travel"):
            await s(object())  # refused before sending
        with pytest.raises(WireError, match="string keys"):
            await s({1: "x"})
        with pytest.raises(ServedModuleError) as info:
            await s(1)
        assert info.value.remote_type == "OutputNotSerializable"


async def test_request_timeout(launcher: str) -> None:
    async with ServerModule(t.slow, launcher=launcher, request_timeout=0.2,
                            caller=al.CallerPolicy(params={"delay"})) as s:
        with pytest.raises(ServedModuleError) as info:
            await s("x", delay=5)
        assert info.value.remote_type == "Timeout" and info.value.status_code == 504
        assert await s("y", delay=0) == "y"


async def test_graceful_shutdown_finishes_in_flight(launcher: str) -> None:
    s = ServerModule(t.slow, launcher=launcher, graceful_timeout=5, caller=al.CallerPolicy(params={"delay"}))
    await s.start()
    results: list[Any] = []

    async def call() -> None:
        results.append(await s("done", delay=0.6))

    async with anyio.create_task_group() as tg:
        tg.start_soon(call)
        await anyio.sleep(0.2)
        await s.stop()  # stop while the call is in flight: it still completes
    assert results == ["done"]


async def test_key_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with ServerModule(t.boom, security_key=KEY) as s:
        with pytest.raises(ServedModuleError) as info:
            await s(1)
        with pytest.raises(al.AuthenticationError) as info2:
            await UrlModule(url=s.url, security_key=KEY + "x")(1)
    for text in (caplog.text, str(info.value), str(info2.value), repr(s)):
        assert KEY not in text
