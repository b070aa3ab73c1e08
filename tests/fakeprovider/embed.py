"""Embedding and rerank routes. Vectors are a deterministic function of the text (sha256),
rerank scores are the share of query words found in each document."""

from __future__ import annotations

import base64
import hashlib
import struct
from typing import Any

from starlette.responses import Response

from .state import FakeState
from .wire import error_body, json_response

DEFAULT_DIM = 8


def vector(text: str, dim: int = DEFAULT_DIM) -> list[float]:
    out: list[float] = []
    seed = text.encode()
    while len(out) < dim:
        seed = hashlib.sha256(seed).digest()
        out.extend(round(b / 127.5 - 1.0, 6) for b in seed)
    return out[:dim]


def score(query: str, doc: str) -> float:
    q = {w.lower() for w in query.split()}
    d = {w.lower() for w in doc.split()}
    return round(len(q & d) / len(q), 6) if q else 0.0


def n_tokens(texts: list[str]) -> int:
    return sum(len(t.split()) for t in texts)


def openai_embeddings(body: dict[str, Any], headers: dict[str, str], flavor: str = "openai") -> Response:
    inp = body.get("input")
    texts = [inp] if isinstance(inp, str) else inp
    if isinstance(texts, list) and texts and all(isinstance(t, dict) and ({"text", "image"} & set(t))
                                                 for t in texts):
        # SiliconFlow's multimodal form: one vector per {text, image} object, over its parts
        texts = ["\n".join(str(t[k]) for k in ("text", "image") if t.get(k)) for t in texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        return json_response(error_body(flavor, 400, "'input' must be a string or a non-empty list of strings",
                                        "invalid_request_error"), 400, headers)
    dim = int(body.get("dimensions") or DEFAULT_DIM)
    data = []
    for i, t in enumerate(texts):
        v: Any = vector(t, dim)
        if body.get("encoding_format") == "base64":  # what the OpenAI SDK asks for by default
            v = base64.b64encode(struct.pack(f"<{dim}f", *v)).decode()
        data.append({"object": "embedding", "index": i, "embedding": v})
    tok = n_tokens(texts)
    if flavor == "sensenova":
        return json_response({"embeddings": [{"index": d["index"], "embedding": d["embedding"], "status": "success"}
                                             for d in data], "usage": {"prompt_tokens": tok, "total_tokens": tok}},
                             200, headers)
    return json_response({"object": "list", "data": data, "model": body.get("model", ""),
                          "usage": {"prompt_tokens": tok, "total_tokens": tok}}, 200, headers)


def dashscope_embeddings(body: dict[str, Any], headers: dict[str, str]) -> Response:
    texts = (body.get("input") or {}).get("texts")
    if isinstance(texts, str):
        texts = [texts]
    if not texts:
        return json_response(error_body("dashscope", 400, "input.texts is required", "InvalidParameter",
                                        request_id=headers["x-request-id"]), 400, headers)
    dim = int((body.get("parameters") or {}).get("dimension") or DEFAULT_DIM)
    return json_response({"output": {"embeddings": [{"text_index": i, "embedding": vector(t, dim)}
                                                    for i, t in enumerate(texts)]},
                          "usage": {"total_tokens": n_tokens(texts)}, "request_id": headers["x-request-id"]},
                         200, headers)


def dashscope_multimodal(body: dict[str, Any], headers: dict[str, str]) -> Response:
    """One vector per content (``text`` / ``image`` / ``video``), as multimodal-embedding-v1 answers;
    a model whose name contains ``fusion`` answers one vector for all contents."""
    contents = (body.get("input") or {}).get("contents")
    if not isinstance(contents, list) or not contents or not all(isinstance(c, dict) and len(c) == 1
                                                                 for c in contents):
        return json_response(error_body("dashscope", 400, "input.contents must be a list of single-key objects",
                                        "InvalidParameter", request_id=headers["x-request-id"]), 400, headers)
    parts = [(next(iter(c)), str(next(iter(c.values())))) for c in contents]
    dim = int((body.get("parameters") or {}).get("dimension") or DEFAULT_DIM)
    if "fusion" in str(body.get("model", "")):
        embs = [{"index": 0, "embedding": vector("\n".join(v for _, v in parts), dim), "type": "fusion"}]
    else:
        embs = [{"index": i, "embedding": vector(v, dim), "type": k} for i, (k, v) in enumerate(parts)]
    images = sum(1 for k, _ in parts if k != "text")
    text_tok = n_tokens([v for k, v in parts if k == "text"])
    return json_response({"output": {"embeddings": embs},
                          "usage": {"input_tokens": text_tok, "image_count": images},
                          "request_id": headers["x-request-id"]}, 200, headers)


def _ranked(query: str, docs: list[Any], top_n: int | None, with_docs: bool) -> list[dict[str, Any]]:
    texts = [d if isinstance(d, str) else (d.get("text") or "") for d in docs]
    order = sorted(range(len(texts)), key=lambda i: (-score(query, texts[i]), i))
    out = []
    for i in order[: top_n or len(order)]:
        r: dict[str, Any] = {"index": i, "relevance_score": score(query, texts[i])}
        if with_docs:
            r["document"] = {"text": texts[i]}
        out.append(r)
    return out


def dashscope_rerank(body: dict[str, Any], headers: dict[str, str]) -> Response:
    inp = body.get("input") or {}
    params = body.get("parameters") or {}
    docs = inp.get("documents") or []
    res = _ranked(inp.get("query", ""), docs, params.get("top_n"), bool(params.get("return_documents")))
    return json_response({"output": {"results": res}, "usage": {"total_tokens": n_tokens([inp.get("query", "")])},
                          "request_id": headers["x-request-id"]}, 200, headers)


def generic_rerank(body: dict[str, Any], headers: dict[str, str]) -> Response:
    """GLM / SiliconFlow / Jina / vLLM style ``{query, documents, top_n}`` → ``results``."""
    docs = body.get("documents")
    if not isinstance(docs, list) or "query" not in body:
        return json_response(error_body("openai", 400, "'query' and 'documents' are required",
                                        "invalid_request_error"), 400, headers)
    res = _ranked(body["query"], docs, body.get("top_n"), bool(body.get("return_documents")))
    return json_response({"id": headers["x-request-id"], "results": res,
                          "meta": {"tokens": {"input_tokens": n_tokens([body["query"]]), "output_tokens": 0}}},
                         200, headers)


def doubao_multimodal(body: dict[str, Any], headers: dict[str, str], state: FakeState) -> Response:
    items = body.get("input") or []
    parts = []
    for it in items:
        if it.get("type") == "text":
            parts.append(it.get("text", ""))
        elif it.get("type") in ("image_url", "video_url"):
            parts.append((it.get(it["type"]) or {}).get("url", ""))
    text_tok = sum(len(str(it.get("text", "")).split()) for it in items if it.get("type") == "text")
    img_tok = 100 * sum(1 for it in items if it.get("type") != "text")
    return json_response({"id": headers["x-request-id"], "model": body.get("model", ""), "object": "list",
                          "data": {"embedding": vector("\n".join(parts), int(body.get("dimensions") or DEFAULT_DIM)),
                                   "object": "embedding"},
                          "usage": {"prompt_tokens": text_tok + img_tok, "total_tokens": text_tok + img_tok,
                                    "prompt_tokens_details": {"text_tokens": text_tok, "image_tokens": img_tok}}},
                         200, headers)
