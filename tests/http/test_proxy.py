"""Proxies on both pools (aiohttp on asyncio, anyio/h11 on trio): environment variables with their
precedence and NO_PROXY, explicit settings, credentials, refusing proxies, CONNECT tunnels to
HTTPS, streams, retries and deadlines through a proxy. Every socket is on 127.0.0.1: the test
proxy (tests/http/proxy.py) counts what goes through it and reaches loopback only."""

from __future__ import annotations

import logging
import ssl

import pytest
from fakeprovider.server import FakeServer
from loopback_proxy import RunningProxy, running_proxy
from nethelpers import AUTH, TLSFiles, ask, chat

from asyncllm import _http
from asyncllm._exceptions import APITimeoutError, ConfigError, PermissionDeniedError, ProxyError, TLSError
from asyncllm._http import HTTPSettings, stream_sse
from asyncllm._proxy import env_proxy_for, no_proxy_matches, parse_proxy

pytestmark = pytest.mark.anyio

FAST = HTTPSettings(backoff_base=0.01, backoff_max=0.05)




def dead_port() -> int:
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = int(s.getsockname()[1])
    s.close()  # nothing listens there now
    return port


# ----------------------------------------------------------------------------- explicit proxies


async def test_an_explicit_proxy_forwards_http(fake: FakeServer, proxy: RunningProxy) -> None:
    s = HTTPSettings(proxy=proxy)
    assert await ask(fake, s) == "fake reply to: hi"
    assert await ask(fake, s) == "fake reply to: hi"
    assert proxy.state.targets("POST") == [f"{fake}/v1/chat/completions"] * 2  # absolute form
    assert len(fake.state.requests) == 2


async def test_a_stream_through_a_proxy(fake: FakeServer, proxy: RunningProxy) -> None:
    async with stream_sse("POST", f"{fake}/v1/chat/completions", json=chat("a b c", stream=True), headers=AUTH,
                          settings=HTTPSettings(proxy=proxy)) as events:
        parts = [ev.json()["choices"][0]["delta"].get("content") or "" async for ev in events
                 if not ev.is_done and ev.json()["choices"]]
    text = "".join(parts)
    assert text == "fake reply to: a b c"
    assert len(proxy.state.requests) == 1


async def test_retries_and_deadlines_through_a_proxy(fake: FakeServer, proxy: RunningProxy) -> None:
    s = HTTPSettings(proxy=proxy, backoff_base=0.01)
    assert await ask(fake, s, **{"x-fake-fault": "503:1"}) == "fake reply to: hi"
    assert len(proxy.state.requests) == 2  # the retry went through the proxy too
    slow = HTTPSettings(proxy=proxy, first_chunk_timeout=0.3, max_attempts=1)
    with pytest.raises(APITimeoutError) as ei:
        await ask(fake, slow, **{"x-fake-fault": "stall-first"})
    assert ei.value.kind == "first_chunk"


async def test_proxy_none_goes_direct_whatever_the_environment(
        fake: FakeServer, proxy: RunningProxy, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    assert await ask(fake, HTTPSettings(proxy=None)) == "fake reply to: hi"
    assert proxy.state.requests == []


async def test_settings_with_different_proxies_never_share_a_connection(fake: FakeServer) -> None:
    async with running_proxy() as p1, running_proxy() as p2:
        for _ in range(2):
            await ask(fake, HTTPSettings(proxy=p1))
            await ask(fake, HTTPSettings(proxy=p2))
            await ask(fake, HTTPSettings(proxy=None))
        # Each proxy saw exactly its own calls (a shared connection would send one's through the
        # other), and the direct calls none.
        assert len(p1.state.requests) == 2 and len(p2.state.requests) == 2
    assert len(fake.state.requests) == 6


# ----------------------------------------------------------------------------- the environment


async def test_http_proxy_from_the_environment(fake: FakeServer, proxy: RunningProxy,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    assert await ask(fake) == "fake reply to: hi"
    assert len(proxy.state.requests) == 1


async def test_lowercase_wins_and_all_proxy_is_the_fallback(fake: FakeServer, proxy: RunningProxy,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")  # would fail if it were used
    assert await ask(fake) == "fake reply to: hi"
    assert len(proxy.state.requests) == 1
    await _http.aclose_all()  # the environment is read when a pool opens
    monkeypatch.delenv("http_proxy")
    monkeypatch.delenv("HTTP_PROXY")
    monkeypatch.setenv("ALL_PROXY", proxy)
    assert await ask(fake) == "fake reply to: hi"
    assert len(proxy.state.requests) == 2


@pytest.mark.parametrize("no_proxy", ["127.0.0.1", "*", "localhost,127.0.0.1", "127.0.0.0/8", "{port}"])
async def test_no_proxy_sends_matching_targets_direct(fake: FakeServer, proxy: RunningProxy,
                                                      monkeypatch: pytest.MonkeyPatch, no_proxy: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("NO_PROXY", no_proxy.replace("{port}", f"127.0.0.1:{fake.port}"))
    assert await ask(fake) == "fake reply to: hi"
    assert proxy.state.requests == []


async def test_no_proxy_for_another_port_still_proxies(fake: FakeServer, proxy: RunningProxy,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PROXY", proxy)
    monkeypatch.setenv("no_proxy", f"127.0.0.1:{fake.port + 1},example.com")
    assert await ask(fake) == "fake reply to: hi"
    assert len(proxy.state.requests) == 1


async def test_http_proxy_is_ignored_in_a_cgi_process(fake: FakeServer, proxy: RunningProxy,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # httpoxy: in CGI any client sets HTTP_PROXY through a 'Proxy:' header
    monkeypatch.setenv("REQUEST_METHOD", "GET")
    monkeypatch.setenv("HTTP_PROXY", proxy)
    assert await ask(fake) == "fake reply to: hi"
    assert proxy.state.requests == []


def test_no_proxy_matching_rules() -> None:
    assert no_proxy_matches("example.com", "api.example.com", 443)
    assert no_proxy_matches(".example.com", "api.example.com", 443)
    assert no_proxy_matches("*.example.com", "example.com", 443)
    assert not no_proxy_matches("example.com", "badexample.com", 443)
    assert no_proxy_matches("example.com:8443", "example.com", 8443)
    assert not no_proxy_matches("example.com:8443", "example.com", 443)
    assert no_proxy_matches("10.0.0.0/8", "10.2.3.4", 80)
    assert not no_proxy_matches("10.0.0.0/8", "11.2.3.4", 80)
    assert no_proxy_matches("[::1]:8080", "::1", 8080) and no_proxy_matches("::1", "[::1]", 1)
    assert no_proxy_matches(" foo , EXAMPLE.com ", "Example.COM.", 1)
    assert not no_proxy_matches("", "example.com", 1)
    env = {"HTTPS_PROXY": "http://p:1", "http_proxy": "http://q:2", "NO_PROXY": "internal"}
    assert env_proxy_for("https", "api.x", 443, env) == parse_proxy("http://p:1")
    assert env_proxy_for("http", "api.x", 80, env) == parse_proxy("http://q:2")
    assert env_proxy_for("https", "svc.internal", 443, env) is None


def test_a_bad_proxy_setting_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="SOCKS"):
        HTTPSettings(proxy="socks5://127.0.0.1:1080")
    with pytest.raises(ConfigError, match="no host"):
        HTTPSettings(proxy="http://")
    # a bare host:port is an http proxy, as curl reads it
    assert parse_proxy("127.0.0.1:3128").redacted() == "http://127.0.0.1:3128"


# ----------------------------------------------------------------------------- credentials, refusals


async def test_proxy_credentials_from_the_url(fake: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with running_proxy(auth="alice:s3cr%t") as p:
        s = HTTPSettings(proxy=p.with_auth("alice:s3cr%25t"))
        assert "s3cr" not in repr(s)
        assert await ask(fake, s) == "fake reply to: hi"
        assert p.state.requests[0][2] is True
    # the proxy took its header off: the provider never sees the proxy's credentials
    assert "proxy-authorization" not in fake.state.requests[0]["headers"]
    assert "s3cr" not in caplog.text


async def test_a_proxy_demanding_credentials_is_a_typed_error_naming_the_fix(fake: FakeServer) -> None:
    async with running_proxy(auth="alice:pw") as p:
        with pytest.raises(ProxyError) as ei:
            await ask(fake, HTTPSettings(proxy=p, backoff_base=0.01))
        assert ei.value.status_code == 407
        assert "http://user:password@host:port" in str(ei.value)
        assert len(p.state.requests) == 1  # not retried: asking again cannot help
        with pytest.raises(ProxyError) as ei:
            await ask(fake, HTTPSettings(proxy=p.with_auth("alice:wrong")))
        assert ei.value.status_code == 407 and "wrong" not in str(ei.value)


async def test_a_refusing_proxy(fake: FakeServer, tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    async with running_proxy(refuse=403) as p:
        # CONNECT: only the proxy can have answered
        with pytest.raises(ProxyError) as ei:
            await ask(tls_fake, HTTPSettings(proxy=p, verify=tls_files.ca_pem))
        assert ei.value.status_code == 403 and "NO_PROXY" in str(ei.value)
        # forwarded http: a 403 could be the proxy's or the provider's; it stays the status error
        with pytest.raises(PermissionDeniedError):
            await ask(fake, HTTPSettings(proxy=p))
    assert fake.state.requests == [] and tls_fake.state.requests == []


async def test_an_unreachable_proxy_names_it_without_its_credentials(fake: FakeServer) -> None:
    url = f"http://bob:hunter2@127.0.0.1:{dead_port()}"
    with pytest.raises(ProxyError) as ei:
        await ask(fake, HTTPSettings(proxy=url, max_attempts=2, backoff_base=0.01))
    assert ei.value.status_code is None
    assert "hunter2" not in str(ei.value)


# ----------------------------------------------------------------------------- CONNECT to HTTPS


async def test_https_goes_through_a_connect_tunnel(tls_fake: FakeServer, proxy: RunningProxy,
                                                   tls_files: TLSFiles) -> None:
    s = HTTPSettings(proxy=proxy, verify=tls_files.ca_pem)
    assert await ask(tls_fake, s) == "fake reply to: hi"
    async with stream_sse("POST", f"{tls_fake}/v1/chat/completions", json=chat("x y", stream=True), headers=AUTH,
                          settings=s) as events:
        frames = [ev async for ev in events if not ev.is_done]
    assert len(frames) > 3
    assert proxy.state.targets("CONNECT") and all(t == f"127.0.0.1:{tls_fake.port}"
                                                   for t in proxy.state.targets())
    assert proxy.state.tunnels >= 1


async def test_https_proxy_from_the_environment_with_credentials(
        tls_fake: FakeServer, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_proxy(auth="u:p") as p:
        monkeypatch.setenv("HTTPS_PROXY", p.with_auth("u:p"))
        monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{dead_port()}")  # not for https targets
        assert await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem)) == "fake reply to: hi"
        assert p.state.requests[0][0] == "CONNECT" and p.state.requests[0][2]


async def test_a_connect_refused_for_credentials(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    async with running_proxy(auth="u:p") as p:
        with pytest.raises(ProxyError) as ei:
            await ask(tls_fake, HTTPSettings(proxy=p, verify=tls_files.ca_pem))
        assert ei.value.status_code == 407 and "user:password" in str(ei.value)
        assert len(p.state.requests) == 1


async def test_a_proxy_on_another_name_is_resolved_by_the_proxy(fake: FakeServer) -> None:
    # Through a proxy the client never resolves the target's name: the proxy does.
    async with running_proxy(aliases={"provider.test"}) as p:
        url = f"http://provider.test:{fake.port}"
        assert await ask(url, HTTPSettings(proxy=p)) == "fake reply to: hi"
        assert p.state.targets() == [f"{url}/v1/chat/completions"]


# ----------------------------------------------------------------------------- an https:// proxy


def proxy_tls(tls_files: TLSFiles) -> ssl.SSLContext:
    """The proxy's side of TLS: a certificate for 127.0.0.1 from the throwaway CA."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tls_files.server_pem)
    return ctx


async def test_an_https_proxy_is_reached_over_tls(fake: FakeServer, tls_fake: FakeServer,
                                                  tls_files: TLSFiles) -> None:
    """An ``https://`` proxy: TLS to the proxy (checked against the same trust as the target),
    then an http target forwarded in absolute form inside it, or an https target through a
    CONNECT tunnel with a second TLS session inside the first; a stream too."""
    async with running_proxy(tls=proxy_tls(tls_files)) as p:
        assert p.startswith("https://")
        s = HTTPSettings(proxy=p, verify=tls_files.ca_pem)
        assert await ask(fake, s) == "fake reply to: hi"
        assert await ask(tls_fake, s) == "fake reply to: hi"
        async with stream_sse("POST", f"{tls_fake}/v1/chat/completions", json=chat("x y", stream=True),
                              headers=AUTH, settings=s) as events:
            frames = [ev async for ev in events if not ev.is_done]
        assert len(frames) > 3
        assert p.state.targets("POST") == [f"{fake}/v1/chat/completions"]
        assert set(p.state.targets("CONNECT")) == {f"127.0.0.1:{tls_fake.port}"} and p.state.tunnels >= 1


async def test_an_https_proxy_from_the_environment_with_credentials(
        tls_fake: FakeServer, tls_files: TLSFiles, monkeypatch: pytest.MonkeyPatch) -> None:
    async with running_proxy(auth="u:p", tls=proxy_tls(tls_files)) as p:
        monkeypatch.setenv("HTTPS_PROXY", p.with_auth("u:p"))
        assert await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem)) == "fake reply to: hi"
        assert p.state.requests[0][:1] == ("CONNECT",) and p.state.requests[0][2]


async def test_an_https_proxy_that_is_not_trusted_is_a_tls_error_naming_it(
        fake: FakeServer, tls_files: TLSFiles) -> None:
    """The proxy's certificate is checked like any server's: one the client's trust does not
    cover fails the handshake, as a TLSError that names the proxy (never its credentials) and
    says how to trust it, and nothing is sent through it."""
    async with running_proxy(tls=proxy_tls(tls_files)) as p:
        with pytest.raises(TLSError) as ei:
            await ask(fake, HTTPSettings(proxy=p.with_auth("u:secret-pw"), max_attempts=1))
        msg = str(ei.value)
        assert f"127.0.0.1:{p.port}" in msg and "secret-pw" not in msg and "verify" in msg
        assert p.state.requests == []
