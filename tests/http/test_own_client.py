"""A caller's own ``httpx.AsyncClient`` (or transport) as ``HTTPSettings.client``: it carries the
calls with all its settings (event hooks, proxy, certificates), on asyncio and trio, while
asyncllm's retries, deadlines and typed errors still apply; asyncllm's pools stay unused."""

from __future__ import annotations

import ssl
from typing import Any

import httpx
import pytest
from fakeprovider.server import FakeServer
from loopback_proxy import RunningProxy
from nethelpers import AUTH, TLSFiles, chat

from asyncllm._exceptions import APITimeoutError, AuthenticationError, ConfigError
from asyncllm._http import HTTPSettings, pools, request_json, stream_sse

pytestmark = pytest.mark.anyio



class Recorder:
    """Event hooks that note every request and response the client handles."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def request(self, r: httpx.Request) -> None:
        self.seen.append(f"> {r.method} {r.url.path} {r.headers.get('x-from-client')}")

    async def response(self, r: httpx.Response) -> None:
        self.seen.append(f"< {r.status_code}")

    def client(self, **kw: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(event_hooks={"request": [self.request], "response": [self.response]},
                                 headers={"x-from-client": "yes"}, **kw)


def own_pools() -> dict[Any, Any]:
    return pools._POOLS.get(pools._loop_key()[0]) or {}


async def test_calls_and_streams_go_through_the_callers_client(fake: FakeServer) -> None:
    rec = Recorder()
    async with rec.client() as client:
        s = HTTPSettings(client=client)
        body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat(), headers=AUTH, settings=s)
        assert body["choices"][0]["message"]["content"] == "fake reply to: hi"
        async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat("a b", stream=True), headers=AUTH,
                              settings=s) as events:
            frames = [ev async for ev in events if not ev.is_done]
        assert len(frames) > 2
    assert rec.seen == ["> POST /v1/chat/completions yes", "< 200"] * 2
    assert fake.state.requests[0]["headers"]["x-from-client"] == "yes"  # the client's own headers apply
    assert own_pools() == {}  # asyncllm opened no pool of its own


async def test_retries_deadlines_and_typed_errors_still_apply(fake: FakeServer) -> None:
    rec = Recorder()
    async with rec.client() as client:
        s = HTTPSettings(client=client, backoff_base=0.01)
        await request_json("POST", f"{fake}/v1/chat/completions", json=chat(),
                           headers={**AUTH, "x-fake-fault": "503:1"}, settings=s)
        assert rec.seen[:4] == ["> POST /v1/chat/completions yes", "< 503", "> POST /v1/chat/completions yes",
                                "< 200"]
        with pytest.raises(AuthenticationError):
            await request_json("POST", f"{fake}/v1/chat/completions", json=chat(),
                               headers={"authorization": "Bearer wrong"}, settings=s)
        slow = HTTPSettings(client=client, first_chunk_timeout=0.3, max_attempts=1)
        with pytest.raises(APITimeoutError) as ei:
            await request_json("POST", f"{fake}/v1/chat/completions", json=chat(),
                               headers={**AUTH, "x-fake-fault": "stall-first"}, settings=slow)
        assert ei.value.kind == "first_chunk"


async def test_the_clients_proxy_and_certificates_apply(tls_fake: FakeServer, proxy: RunningProxy,
                                                        tls_files: TLSFiles) -> None:
    ctx = ssl.create_default_context(cafile=tls_files.ca_pem)
    async with httpx.AsyncClient(proxy=proxy, verify=ctx) as client:
        body, _ = await request_json("POST", f"{tls_fake}/v1/chat/completions", json=chat(), headers=AUTH,
                                     settings=HTTPSettings(client=client))
    assert body["choices"][0]["message"]["content"] == "fake reply to: hi"
    assert proxy.state.targets() == [f"127.0.0.1:{tls_fake.port}"]  # httpx opened a CONNECT tunnel


async def test_a_transport_works_too(fake: FakeServer) -> None:
    async with httpx.AsyncHTTPTransport() as transport:
        body, _ = await request_json("POST", f"{fake}/v1/chat/completions", json=chat(), headers=AUTH,
                                     settings=HTTPSettings(client=transport))
    assert body["choices"][0]["message"]["content"] == "fake reply to: hi"


def test_a_client_that_is_not_httpx_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"httpx\.AsyncClient"):
        HTTPSettings(client=object())  # type: ignore[arg-type]
