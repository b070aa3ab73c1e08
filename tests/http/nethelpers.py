"""Helpers of the network tests: the throwaway CA (made by the ``tls_files`` fixture with
trustme) and one chat call against the fake provider."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import trustme
from fakeprovider.state import DEFAULT_KEY

from asyncllm._http import HTTPSettings, request_json

AUTH = {"authorization": f"Bearer {DEFAULT_KEY}"}


def chat(text: str = "hi", **kw: Any) -> dict[str, Any]:
    """A chat completions body."""
    return {"model": "fake-chat", "messages": [{"role": "user", "content": text}], **kw}


async def ask(url: str, settings: HTTPSettings | None = None, **headers: str) -> str:
    """One non-streamed chat call to the fake at ``url``; the reply's text."""
    body, _ = await request_json("POST", f"{url}/v1/chat/completions", json=chat(), headers={**AUTH, **headers},
                                 settings=settings)
    return str(body["choices"][0]["message"]["content"])


@dataclass(frozen=True)
class TLSFiles:
    """A throwaway CA and what it signed, as PEM files."""

    ca: trustme.CA
    ca_pem: str  # the CA certificate: what a client trusts
    server_pem: str  # the server's chain and key (127.0.0.1, localhost, ::1)
    client_pem: str  # a client certificate and key for mutual TLS
