"""Fixtures for the HTTP layer tests: the fake provider (plain and over TLS), a local proxy,
a throwaway CA, and pools closed after each test.

Every test here starts from an environment without proxy or CA variables (the machine's own
must not leak in); a test that wants them sets them with ``monkeypatch``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trustme
from fakeprovider.server import FakeServer, running_fake_provider
from loopback_proxy import RunningProxy, running_proxy
from nethelpers import TLSFiles

NET_ENV = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "all_proxy",
           "no_proxy", "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUEST_METHOD")


@pytest.fixture(autouse=True)
def clean_net_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in NET_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
async def fake(pools: None) -> AsyncIterator[FakeServer]:
    async with running_fake_provider() as url:
        yield url


@pytest.fixture(scope="session")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> TLSFiles:
    d: Path = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("127.0.0.1", "localhost", "::1")
    client = ca.issue_cert("client@asyncllm.test")
    paths = {name: str(d / f"{name}.pem") for name in ("ca", "server", "client")}
    ca.cert_pem.write_to_path(paths["ca"])
    server.private_key_and_cert_chain_pem.write_to_path(paths["server"])
    client.private_key_and_cert_chain_pem.write_to_path(paths["client"])
    return TLSFiles(ca, paths["ca"], paths["server"], paths["client"])


@pytest.fixture
async def tls_fake(pools: None, tls_files: TLSFiles) -> AsyncIterator[FakeServer]:
    """The fake provider over HTTPS, its certificate signed by the throwaway CA."""
    async with running_fake_provider(certfile=tls_files.server_pem) as url:
        yield url


@pytest.fixture
async def proxy(pools: None) -> AsyncIterator[RunningProxy]:
    async with running_proxy() as p:
        yield p
