"""``OnlineEmbeddingModuleBase`` and ``OnlineRerankModuleBase``: embeddings and reranking over HTTP.

Embedding: a str gives one vector, a list gives vectors in input order; lists are split into
``batch_size`` batches sent concurrently (at most ``concurrency`` at once). Rerank:
``await m(query, documents=[...], top_n=k)`` gives ``[(index, score), ...]``, best first.

A provider registers with class keywords and overrides what differs from the OpenAI wire::

    class MyEmbed(OnlineEmbeddingModuleBase, source="myvendor"):
        default_url = "https://api.myvendor.example/v1/embeddings"
        default_model = "my-embed"

``api_key=`` takes one key, a list of keys or ``"dynamic"``, as for chat (see ``_keys.py``); the
network keywords are chat's too (:class:`asyncllm.HTTPOptions`), ``idle_timeout=``
included: it bounds the wait between reads of a whole answer as well as a stream's.

Hooks: ``_make_auth(key)``, ``_build_body(texts, model, params)``, ``_parse_response(body, n)``
(embeddings); ``_build_rerank_body(query, documents, top_n, model, params)``,
``_parse_rerank(body)`` (rerank).

The seed's subclass contract works as written: a subclass without ``source=`` that calls
``super().__init__(embed_url, api_key, embed_model_name)`` (the seed's positional order; a
registered provider takes ``(embed_url, embed_model_name)``, as LazyLLM's providers do) and
overrides ``_encapsulated_data(input, **kwargs)`` (the body) or ``_parse_response(response)``
(one argument: the vector of a single input, the list of vectors of a batch) has them called
with the seed's shapes: a str input goes to ``_encapsulated_data`` as itself, not as a list.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Unpack
from urllib.parse import urljoin

from .. import _tracing
from .._concurrency import gather
from .._config import config
from .._exceptions import ConfigError, ProtocolError
from .._http import HTTPOptions
from ..modules.base import ModuleBase
from ._keys import ApiKey, KeyedProvider
from ._registry import register_embed

__all__ = ["OnlineEmbeddingModuleBase", "OnlineRerankModuleBase"]

_KEEP_URL = re.compile(r"(embeddings|embedding|embed|sparse_embed|rerank|multimodal)/?$")


class OnlineEmbeddingModuleBase(KeyedProvider, ModuleBase):
    """Base of every online embedding provider (OpenAI ``/embeddings`` wire by default)."""

    kind: ClassVar[str] = "embed"
    default_url: ClassVar[str] = ""
    url_suffix: ClassVar[str] = "embeddings"

    #: positional arguments after ``embed_url``: a registered provider (``source=``, every built-in
    #: one) takes ``embed_model_name``; the base called from a seed-style subclass takes the seed's
    #: ``api_key, embed_model_name``
    _provider_positional: ClassVar[bool] = False
    #: the subclass overrides the seed's ``_encapsulated_data`` / a one-argument ``_parse_response``
    _seed_body: ClassVar[bool] = False
    _seed_parse: ClassVar[bool] = False

    def __init_subclass__(cls, source: str | None = None, kind: str | None = None, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        if kind:
            cls.kind = kind
        if source:
            cls.source = source.lower()
            cls._provider_positional = True
            register_embed(cls.kind, source, cls)
        cls._seed_body = cls._encapsulated_data is not OnlineEmbeddingModuleBase._encapsulated_data
        cls._seed_parse = _positional_count(cls._parse_response) == 1

    def __init__(
        self,
        embed_url: str | None = None,
        *positional: Any,
        embed_model_name: str | None = None,
        api_key: ApiKey = None,
        skip_auth: bool = False,
        dynamic_auth: bool = False,
        batch_size: int | None = None,
        concurrency: int | None = None,
        static_params: Mapping[str, Any] | None = None,
        return_trace: bool = False,
        id: str | None = None,
        name: str | None = None,
        **http: Unpack[HTTPOptions],
    ) -> None:
        super().__init__(return_trace=return_trace, id=id, name=name)
        if positional:
            api_key, embed_model_name = self._positional(positional, api_key, embed_model_name)
        self._init_provider(api_key, skip_auth=skip_auth, dynamic_auth=dynamic_auth, http=http)
        self._url = self._embed_url(embed_url)
        self._model_name = embed_model_name or self.default_model
        self._batch_size = int(batch_size or config.get("embed_batch_size"))
        self._concurrency = int(concurrency or config.get("embed_concurrency"))
        if self._batch_size < 1 or self._concurrency < 1:
            raise ConfigError("batch_size and concurrency must be >= 1")
        self._static_params: dict[str, Any] = dict(static_params or {})

    def _positional(self, args: tuple[Any, ...], api_key: ApiKey,
                    model: str | None) -> tuple[ApiKey, str | None]:
        """(api_key, embed_model_name) from the positional arguments after ``embed_url``."""
        names = ("embed_model_name",) if self._provider_positional else ("api_key", "embed_model_name")
        if len(args) > len(names):
            raise ConfigError(f"{type(self).__name__} takes embed_url, {', '.join(names)} positionally; pass "
                              "the rest by keyword (api_key=..., embed_model_name=...)")
        given = dict(zip(names, args, strict=False))
        for arg, value in (("api_key", api_key), ("embed_model_name", model)):
            if arg in given and value is not None:
                raise ConfigError(f"{type(self).__name__} got {arg} both positionally and by keyword; pass it once")
        return given.get("api_key", api_key), given.get("embed_model_name", model)

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
    def _embed_model_name(self) -> str | None:
        """The model name under the seed's attribute name (read by ported ``_encapsulated_data``)."""
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
        data, _ = await self._request_json("POST", url or self._url, json=body, model=self._model_name)
        return data

    # -- embedding hooks ---------------------------------------------------------------------

    def _build_body(self, texts: list[Any], model: str | None, params: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"input": texts, **self._static_params, **params}
        if model:
            body["model"] = model
        return body

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        """The ``n`` vectors of an answer, in input order."""
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"{self.source or 'provider'} embedding answer has no 'data' list: "
                                f"{str(data)[:200]!r}", provider=self.source, model=self._model_name)
        return ordered([(it.get("index", i), it.get("embedding")) for i, it in enumerate(items)], n, self.source)

    def _encapsulated_data(self, input: Any, **kwargs: Any) -> dict[str, Any]:
        """The seed's body hook: the JSON body for ``input`` (one str, or a list: one batch).
        ``kwargs`` are the call's keyword arguments (``model=`` when the call names a model).
        A subclass overriding it (or a one-argument ``_parse_response(response)``) gets the seed's
        call shape: a single input is passed as itself, not as a one-item list."""
        return self._build_body(input, kwargs.pop("model", None) or self._model_name, kwargs)

    async def _embed_batch(self, batch: list[Any], model: str | None, params: dict[str, Any],
                           url: str | None) -> list[Any]:
        if self._seed_body or self._seed_parse:
            return await self._seed_call(batch, model, params, url, single=False)  # type: ignore[no-any-return]
        data = await self._post(self._build_body(batch, model, params), url)
        return self._parse_response(data, len(batch))

    async def _seed_call(self, input: Any, model: str | None, params: dict[str, Any], url: str | None, *,
                         single: bool) -> Any:
        """One request the seed's way: ``_encapsulated_data(input, **kw)`` builds the body and a
        one-argument ``_parse_response(response)`` reads it (one vector for a single input, one
        per input for a batch); either may be the base's own."""
        kw = dict(params)
        if model and model != self._model_name:
            kw["model"] = model
        data = await self._post(self._encapsulated_data(input, **kw), url)
        n = 1 if single else len(input)
        if not self._seed_parse:
            vectors = self._parse_response(data, n)
            return vectors[0] if single else vectors
        out = self._parse_response(data)  # type: ignore[call-arg]
        if not single and (not isinstance(out, list) or len(out) != n):
            got = f"{len(out)} items" if isinstance(out, list) else type(out).__name__
            raise ProtocolError(f"{type(self).__name__}._parse_response returned {got} for a batch of {n} inputs; "
                                "return one vector per input (a list), or set batch_size=1",
                                provider=self.source, model=model)
        return out

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
            if self._seed_body or self._seed_parse:
                return await self._seed_call(input, model, params, target, single=True)
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


def _positional_count(fn: Any) -> int:
    """How many positional parameters ``fn`` takes after ``self``."""
    try:
        params = list(inspect.signature(fn).parameters.values())[1:]
    except (TypeError, ValueError):
        return -1
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds for p in params)


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
