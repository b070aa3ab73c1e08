"""The throwaway CA of the TLS tests (made by the ``tls_files`` fixture with trustme)."""

from __future__ import annotations

from dataclasses import dataclass

import trustme


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and what it signed, as PEM files."""

    ca: trustme.CA
    ca_pem: str  # the CA certificate: what a client trusts
    server_pem: str  # the server's chain and key (127.0.0.1, localhost, ::1)
    client_pem: str  # a client certificate and key for mutual TLS
