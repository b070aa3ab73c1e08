"""Azure OpenAI: the OpenAI wire behind per-deployment URLs, an ``api-version`` and Azure's auth.

* URL: ``{endpoint}/openai/deployments/{deployment}/chat/completions?api-version={v}`` (and
  ``/embeddings``), where the deployment is the ``model`` (as the ``AzureOpenAI`` client of the
  openai SDK builds it: ``openai/lib/azure.py``, 3.57.0). Without ``api-version`` Azure answers
  404 "Resource not found" (MicrosoftDocs/azure-docs#114602). A ``base_url`` ending in
  ``/openai/v1/`` is Azure's version-less v1 API: plain OpenAI paths, no ``api-version``.
* The endpoint comes from ``base_url=`` or ``AZURE_OPENAI_ENDPOINT``; the version from
  ``api_version=``, ``OPENAI_API_VERSION``, else :data:`DEFAULT_API_VERSION` (the SDK's own
  variable names).
* Auth: ``api-key: <key>`` (``AZURE_OPENAI_API_KEY``), or Microsoft Entra ID: pass
  ``azure_ad_token_provider=`` a callable returning a bearer token (sync, like azure-identity's
  ``get_bearer_token_provider``, or async); it is asked before every request, as the SDK does,
  a sync one in a worker thread (it may refresh over the network).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from typing import Any
from urllib.parse import quote

import anyio

from .._config import Secret
from .._exceptions import ConfigError
from ._keys import Auth, RedactedHeaders, StaticAuth
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase
from .openai import SYSTEM_PROMPT

__all__ = ["DEFAULT_API_VERSION", "AzureOpenAIChat", "AzureOpenAIEmbedding"]

#: the newest GA data-plane version (https://learn.microsoft.com/azure/ai-foundry/openai/reference)
DEFAULT_API_VERSION = "2024-10-21"

TokenProvider = Callable[[], str] | Callable[[], Awaitable[str]]


class _TokenAuth:
    """``Authorization: Bearer <token>`` from a token provider, refreshed in place before each call."""

    __slots__ = ("_headers", "_provider")

    def __init__(self, provider: TokenProvider) -> None:
        self._provider = provider
        self._headers = RedactedHeaders()

    def headers(self) -> dict[str, str]:
        return self._headers

    async def refresh(self) -> None:
        if inspect.iscoroutinefunction(self._provider):
            token = await self._provider()
        else:
            token = await anyio.to_thread.run_sync(self._provider)
        if inspect.isawaitable(token):  # a sync callable that hands back an awaitable
            token = await token
        if not isinstance(token, str) or not token:
            raise ConfigError("azure_ad_token_provider must return a non-empty token string")
        self._headers["authorization"] = "Bearer " + token

    def __repr__(self) -> str:
        return "<AzureTokenAuth ***>"


class _Azure:
    """What chat and embeddings share: endpoint, version, auth."""

    source = "azure"
    _token: _TokenAuth | None
    _api_version: str

    def _setup(self, api_version: str | None, token_provider: TokenProvider | None, kw: dict[str, Any]) -> None:
        self._api_version = api_version or os.environ.get("OPENAI_API_VERSION") or DEFAULT_API_VERSION
        self._token = _TokenAuth(token_provider) if token_provider is not None else None
        if self._token is not None:
            if kw.get("api_key") is not None or kw.get("dynamic_auth"):
                raise ConfigError("pass either api_key= or azure_ad_token_provider=, not both (as the SDK)")
            kw["skip_auth"] = True  # the token is the credential: no key to look up

    def _make_auth(self, key: Secret | None) -> Auth:
        if self._token is not None:
            return self._token
        h = RedactedHeaders()
        if key:
            h["api-key"] = key.get()
        return StaticAuth(h)

    def _deployment_url(self, endpoint: str, deployment: str | None, what: str) -> str:
        base = endpoint.rstrip("/")
        if base.endswith("/openai/v1"):
            return f"{base}/{what}"
        if not deployment:
            raise ConfigError("Azure OpenAI needs model=<your deployment name>: the deployment is part of the URL")
        if not base.endswith("/openai"):
            base += "/openai"
        return f"{base}/deployments/{quote(deployment, safe='')}/{what}?api-version={quote(self._api_version)}"


def _endpoint(base_url: str | None) -> str:
    url = base_url or os.environ.get("AZURE_OPENAI_ENDPOINT")
    if not url:
        raise ConfigError("Azure OpenAI needs its endpoint: base_url='https://<resource>.openai.azure.com/' or "
                          "AZURE_OPENAI_ENDPOINT")
    return url


class AzureOpenAIChat(_Azure, OnlineChatModuleBase, source="azure"):
    default_system_prompt = SYSTEM_PROMPT  # Azure serves OpenAI's models
    default_model = None
    structured_output = "json_schema"  # as OpenAI's, GA since api-version 2024-10-21
    vlm_model_prefixes = ("gpt-4o", "gpt-4.1", "gpt-5", "o3", "o4")

    def __init__(self, model: str | None = None, *, base_url: str | None = None, api_version: str | None = None,
                 azure_ad_token_provider: TokenProvider | None = None, **kw: Any) -> None:
        self._setup(api_version, azure_ad_token_provider, kw)
        super().__init__(model, base_url=_endpoint(base_url), **kw)

    def _chat_url(self, base_url: str) -> str:
        return self._deployment_url(base_url, self._model_name, "chat/completions")

    def _request_url(self, model: str, base_url: str | None) -> str:
        return self._deployment_url(base_url or self._base_url, model, "chat/completions")

    async def forward(self, *args: Any, **kw: Any) -> AsyncGenerator[Any, None]:  # type: ignore[override]
        if self._token is not None:
            await self._token.refresh()
        async with aclosing(super().forward(*args, **kw)) as pieces:
            async for piece in pieces:
                yield piece


class AzureOpenAIEmbedding(_Azure, OnlineEmbeddingModuleBase, source="azure"):
    default_model = None

    def __init__(self, embed_url: str | None = None, embed_model_name: str | None = None, *,
                 api_version: str | None = None, azure_ad_token_provider: TokenProvider | None = None,
                 **kw: Any) -> None:
        self._setup(api_version, azure_ad_token_provider, kw)
        self._endpoint = _endpoint(embed_url)
        super().__init__("!" + self._endpoint, embed_model_name, **kw)
        self._url = self._deployment_url(self._endpoint, self._model_name, "embeddings") if self._model_name else ""

    async def _post(self, body: dict[str, Any], url: str | None = None) -> Any:
        if self._token is not None:
            await self._token.refresh()
        return await super()._post(body, url)

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        if url is None:
            url = self._deployment_url(self._endpoint, model, "embeddings")
        return await super()._embed_batch(batch, model, params, url)
