"""``OnlineEmbeddingModuleBase`` and ``OnlineRerankModuleBase``: embeddings and reranking over HTTP.

Embedding: a str gives one vector, a list gives vectors in input order; lists are split into
``batch_size`` batches sent concurrently (at most ``concurrency`` at once). Rerank:
``await m(query, documents=[...], top_n=k)`` gives ``[(index, score), ...]``, best first.

A provider registers with class keywords and overrides what differs from the OpenAI wire::

    class MyEmbed(OnlineEmbeddingModuleBase, source="myvendor"):
        default_url = "https://api.myvendor.example/v1/embeddings"
        default_model = "my-embed"

``api_key=`` takes one key, a list of keys or ``"dynamic"``, as for chat (see ``_keys.py``).

Hooks: ``_make_auth(key)``, ``_build_body(texts, model, params)``, ``_parse_response(body, n)``
(embeddings); ``_build_rerank_body(query, documents, top_n, model, params)``,
``_parse_rerank(body)`` (rerank).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urljoin

import httpx

from .. import _tracing
from .._concurrency import gather
from .._config import config
from .._exceptions import ConfigError, ProtocolError
from .._http import request_json
from .._proxy import ENV
from .._tls import CertSpec, Verify
from ..modules.base import ModuleBase
from ._keys import KEY_ERRORS, ApiKey, KeyedProvider
from ._registry import register_embed
from .chat_base import http_settings

__all__ = ["OnlineEmbeddingModuleBase", "OnlineRerankModuleBase"]

_KEEP_URL = re.compile(r"(embeddings|embedding|embed|sparse_embed|rerank|multimodal)/?$")


class OnlineEmbeddingModuleBase(KeyedProvider, ModuleBase):
    """Base of every online embedding provider (OpenAI ``/embeddings`` wire by default)."""

    source: ClassVar[str] = ""
    kind: ClassVar[str] = "embed"
    default_url: ClassVar[str] = ""
    default_model: ClassVar[str | None] = None
    url_suffix: ClassVar[str] = "embeddings"
    key_required: ClassVar[bool] = True
    #: the seed's switch: True sends this provider's calls direct, whatever HTTPS_PROXY says
    NO_PROXY: ClassVar[bool] = False

    def __init_subclass__(cls, source: str | None = None, kind: str | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if kind:
            cls.kind = kind
        if source:
            cls.source = source.lower()
            register_embed(cls.kind, source, cls)

    def __init__(
        self,
        embed_url: str | None = None,
        embed_model_name: str | None = None,
        *,
        api_key: ApiKey = None,
        skip_auth: bool = False,
        dynamic_auth: bool = False,
        batch_size: int | None = None,
        concurrency: int | None = None,
        static_params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        connect_timeout: float | None = None,
        first_chunk_timeout: float | None = None,
        max_retries: int | None = None,
        retry_backoff: float | None = None,
        return_trace: bool = False,
        proxy: str | None = ENV,
        verify: Verify = True,
        cert: CertSpec | None = None,
        http_client: httpx.AsyncClient | httpx.AsyncBaseTransport | None = None,
        id: str | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(return_trace=return_trace, id=id, name=name)
        self._init_keys(api_key, skip_auth=skip_auth, dynamic_auth=dynamic_auth)
        self._url = self._embed_url(embed_url)
        self._model_name = embed_model_name or self.default_model
        self._batch_size = int(batch_size or config.get("embed_batch_size"))
        self._concurrency = int(concurrency or config.get("embed_concurrency"))
        if self._batch_size < 1 or self._concurrency < 1:
            raise ConfigError("batch_size and concurrency must be >= 1")
        self._static_params: dict[str, Any] = dict(static_params or {})
        self._http = http_settings(timeout, connect_timeout=connect_timeout, first_chunk_timeout=first_chunk_timeout,
                                   max_retries=max_retries, retry_backoff=retry_backoff, proxy=proxy,
                                   verify=verify, cert=cert, http_client=http_client, no_proxy=self.NO_PROXY)

    def _embed_url(self, url: str | None) -> str:
        """``!url`` is used verbatim; a URL already naming the endpoint is kept; a base gets the suffix."""
        if not url:
            if not self.default_url:
                raise ConfigError(f"{type(self).__name__} needs embed_url=... (no default endpoint)")
            return self.default_url
        if url.startswith("!"):
            return url[1:]
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"embed_url must start with http:// or https://, got {url!r}")
        if _KEEP_URL.search(url):
            return url
        return urljoin(url if url.endswith("/") else url + "/", self.url_suffix)

    @property
    def model(self) -> str | None:
        return self._model_name

    @property
    def type(self) -> str:
        return self.kind

    @property
    def batch_size(self) -> int:
        return self._batch_size

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name, "source": self.source, "model": self._model_name, "url": self._url,
                "auth": self._keys.describe()}

    async def _post(self, body: dict[str, Any], url: str | None = None) -> Any:
        headers = self._auth_headers()
        retried = False
        while True:  # twice only to retry on the next key of a pool
            try:
                data, _ = await request_json("POST", url or self._url, json=body, headers=headers,
                                             settings=self._http, provider=self.source, model=self._model_name)
                return data
            except KEY_ERRORS as exc:
                if not self._keys.set_aside(headers, exc) or retried:
                    raise
                retried = True
                headers = self._auth_headers()

    # -- embedding hooks ---------------------------------------------------------------------

    def _build_body(self, texts: list[Any], model: str | None, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"input": texts, **self._static_params, **params}
        if model:
            body["model"] = model
        return body

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"{self.source or 'provider'} embedding answer has no 'data' list: "
                                f"{str(data)[:200]!r}", provider=self.source, model=self._model_name)
        return ordered([(it.get("index", i), it.get("embedding")) for i, it in enumerate(items)], n, self.source)

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        data = await self._post(self._build_body(batch, model, params), url)
        return self._parse_response(data, len(batch))

    async def forward(self, input: Any, *, model: str | None = None, url: str | None = None,
                      **params: Any) -> Any:
        if params:
            _drop_session_kwargs(params)
        model = model or self._model_name
        target = self._embed_url(url) if url else None
        if (span := _tracing.model_span()) is not None:
            _tracing.genai_request(span, "rerank" if self.kind == "rerank" else "embeddings",
                                   self.source or "openai_compatible", model)
        if isinstance(input, (str, dict)):
            return (await self._embed_batch([input], model, params, target))[0]
        if not isinstance(input, Sequence) or isinstance(input, bytes):
            raise ConfigError(f"embed a str or a list of str, got {type(input).__name__}")
        items = list(input)
        if not items:
            return []
        size = self._batch_size
        if len(items) <= size:
            return await self._embed_batch(items, model, params, target)
        batches = [items[i:i + size] for i in range(0, len(items), size)]

        def job(b: list[Any]) -> Any:
            return lambda: self._embed_batch(b, model, params, target)

        results = await gather([job(b) for b in batches], limit=self._concurrency)
        return [v for r in results for v in r]


def _drop_session_kwargs(params: dict[str, Any]) -> None:
    # ModuleBase passes the session's history/files to every module; they mean nothing here.
    params.pop("llm_chat_history", None)
    params.pop("lazyllm_files", None)


def ordered(pairs: list[tuple[Any, Any]], n: int, source: str) -> list[Any]:
    """Vectors placed by their ``index`` (providers may answer out of order)."""
    out: list[Any] = [None] * n
    for idx, vec in pairs:
        if not isinstance(idx, int) or not 0 <= idx < n or vec is None:
            raise ProtocolError(f"{source or 'provider'} sent an embedding with a bad index {idx!r}", provider=source)
        out[idx] = vec
    if any(v is None for v in out):
        raise ProtocolError(f"{source or 'provider'} sent {sum(v is not None for v in out)} embeddings for {n} "
                            "inputs", provider=source)
    return out


class OnlineRerankModuleBase(OnlineEmbeddingModuleBase):
    """Base of rerank providers: ``{query, documents, top_n, model}`` → ``results[]`` by default."""

    kind: ClassVar[str] = "rerank"
    url_suffix: ClassVar[str] = "rerank"

    def _build_rerank_body(self, query: str, documents: list[str], top_n: int | None, model: str | None,
                           params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"query": query, "documents": documents, **self._static_params, **params}
        if top_n is not None:
            body["top_n"] = top_n
        if model:
            body["model"] = model
        return body

    def _parse_rerank(self, data: Any) -> list[tuple[int, float]]:
        results = data.get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProtocolError(f"{self.source or 'provider'} rerank answer has no 'results' list: "
                                f"{str(data)[:200]!r}", provider=self.source, model=self._model_name)
        return [(int(r["index"]), float(r.get("relevance_score", r.get("score", 0.0)))) for r in results]

    async def forward(  # type: ignore[override]
        self, query: Any, documents: Sequence[str] | None = None, *, top_n: int | None = None,
                      model: str | None = None, url: str | None = None, **params: Any) -> Any:
        if params:
            _drop_session_kwargs(params)
        if not isinstance(query, str):
            raise ConfigError(f"rerank takes a query str, got {type(query).__name__}")
        if documents is None or isinstance(documents, str):
            raise ConfigError("rerank needs documents=[...] (a list of str)")
        docs = list(documents)
        if not docs:
            return []
        target = self._embed_url(url) if url else None
        data = await self._post(self._build_rerank_body(query, docs, top_n, model or self._model_name, params),
                                target)
        ranked = sorted(self._parse_rerank(data), key=lambda p: (-p[1], p[0]))
        return ranked[:top_n] if top_n else ranked
