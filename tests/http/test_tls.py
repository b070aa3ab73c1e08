"""TLS on both pools against the fake provider served over HTTPS with a throwaway CA (trustme):
each way of trusting it, the typed refusal otherwise, the insecure opt-out, mutual TLS, and
streams, retries and deadlines over TLS."""

from __future__ import annotations

import logging
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from fakeprovider.server import FakeServer, running_fake_provider
from nethelpers import AUTH, TLSFiles, ask, chat

from asyncllm._exceptions import APIConnectionError, APITimeoutError, ConfigError, TLSError
from asyncllm._http import HTTPSettings, stream_sse

pytestmark = pytest.mark.anyio





async def test_an_unknown_ca_is_a_typed_error_naming_the_setting(tls_fake: FakeServer) -> None:
    with pytest.raises(TLSError) as ei:
        await ask(tls_fake, HTTPSettings(backoff_base=0.01))
    msg = str(ei.value)
    assert "certificate" in msg and "verify=" in msg and "SSL_CERT_FILE" in msg
    assert isinstance(ei.value, APIConnectionError)
    assert tls_fake.state.requests == []


async def test_trust_by_path(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    assert await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem)) == "fake reply to: hi"


async def test_trust_by_ssl_cert_file(tls_fake: FakeServer, tls_files: TLSFiles,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", tls_files.ca_pem)
    assert await ask(tls_fake) == "fake reply to: hi"


@pytest.fixture
def cert_dir(tls_files: TLSFiles, tmp_path: Path) -> Path:
    """A c_rehash-style directory holding the CA under its <subject hash>.0 name."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to name the certificate by its subject hash")
    out = subprocess.run([openssl, "x509", "-hash", "-noout", "-in", tls_files.ca_pem], capture_output=True,
                         text=True, check=True, timeout=30)
    shutil.copy(tls_files.ca_pem, tmp_path / f"{out.stdout.strip()}.0")
    return tmp_path


async def test_trust_by_ssl_cert_dir(tls_fake: FakeServer, cert_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_DIR", str(cert_dir))
    assert await ask(tls_fake) == "fake reply to: hi"
    with pytest.raises(TLSError):  # a directory without the CA trusts nothing we serve
        await ask(tls_fake, HTTPSettings(verify=str(cert_dir.parent)))


async def test_trust_by_context(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    ctx = ssl.create_default_context()
    tls_files.ca.configure_trust(ctx)
    assert await ask(tls_fake, HTTPSettings(verify=ctx)) == "fake reply to: hi"


async def test_insecure_opt_out_warns_once(tls_fake: FakeServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="asyncllm.http")
    s = HTTPSettings(verify=False)
    assert await ask(tls_fake, s) == "fake reply to: hi"
    assert await ask(tls_fake, s) == "fake reply to: hi"
    warnings = [r for r in caplog.records if "verification is OFF" in r.getMessage()]
    assert len(warnings) == 1 and tls_fake.split("//")[1] in warnings[0].getMessage()


async def test_a_trusted_and_an_untrusted_setting_do_not_share_connections(tls_fake: FakeServer,
                                                                         tls_files: TLSFiles) -> None:
    assert await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem)) == "fake reply to: hi"
    with pytest.raises(TLSError):  # a kept-alive trusted connection must not carry this call
        await ask(tls_fake, HTTPSettings())


async def test_stream_retry_and_deadline_over_tls(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    s = HTTPSettings(verify=tls_files.ca_pem, backoff_base=0.01)
    async with stream_sse("POST", f"{tls_fake}/v1/chat/completions", json=chat("one two", stream=True),
                          headers=AUTH, settings=s) as events:
        frames = [ev.json() async for ev in events if not ev.is_done]
    assert "".join(f["choices"][0]["delta"].get("content") or "" for f in frames) == "fake reply to: one two"
    assert await ask(tls_fake, s, **{"x-fake-fault": "503:1"}) == "fake reply to: hi"
    assert len(tls_fake.state.requests) == 3
    with pytest.raises(APITimeoutError) as ei:
        await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem, idle_timeout=0.3, max_attempts=1),
                  **{"x-fake-fault": "stall-mid"})
    assert ei.value.kind == "idle"


@pytest.fixture
async def mtls_fake(pools: None, tls_files: TLSFiles) -> AsyncIterator[FakeServer]:
    async with running_fake_provider(certfile=tls_files.server_pem, client_ca=tls_files.ca_pem) as url:
        yield url


async def test_client_certificate(mtls_fake: FakeServer, tls_files: TLSFiles) -> None:
    s = HTTPSettings(verify=tls_files.ca_pem, cert=tls_files.client_pem)
    assert await ask(mtls_fake, s) == "fake reply to: hi"
    # TLS 1.3: the server refuses after the handshake, closing the connection without an alert the
    # client can read, so this is a connection error whose message names the setting.
    with pytest.raises(APIConnectionError) as ei:
        await ask(mtls_fake, HTTPSettings(verify=tls_files.ca_pem, backoff_base=0.01))
    assert "cert=" in str(ei.value)


async def test_bad_tls_settings_are_config_errors(tls_fake: FakeServer, tls_files: TLSFiles) -> None:
    with pytest.raises(ConfigError, match="no such CA bundle"):
        await ask(tls_fake, HTTPSettings(verify="/nonexistent/ca.pem"))
    with pytest.raises(ConfigError, match="client certificate"):
        await ask(tls_fake, HTTPSettings(verify=tls_files.ca_pem, cert=tls_files.ca_pem))  # no key in it
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SSL_CERT_FILE", "/nonexistent/bundle.pem")
        with pytest.raises(ConfigError, match="SSL_CERT_FILE"):
            await ask(tls_fake)
    with pytest.raises(ConfigError, match="verify must be"):
        HTTPSettings(verify=1)  # type: ignore[arg-type]
