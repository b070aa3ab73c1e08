"""Qwen (Alibaba DashScope): chat through the OpenAI-compatible mode; embeddings, multimodal
embeddings and rerank on the native API (``input.texts`` / ``input.contents`` /
``input.query+documents``, answers under ``output``); fine-tuning
(``/api/v1/files``, ``/api/v1/fine-tunes``) and deployment (``/api/v1/deployments``) natively."""

from __future__ import annotations

import os
import re
from typing import Any
from urllib.parse import urljoin

from .._exceptions import APIError, ContentFilteredError, ProtocolError, QuotaExceededError
from .._http import request_raw
from .._provider_errors import body_code, register_error_rule
from ._media import ImageRef
from ._mm_embed import MultimodalEmbeddingBase
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, OnlineRerankModuleBase, ordered
from .file_handler import read_training_file

__all__ = ["QwenChat", "QwenEmbedding", "QwenMultimodalEmbedding", "QwenRerank", "dashscope_error_rule"]

DASHSCOPE = "https://dashscope.aliyuncs.com/"

# DashScope error codes (https://help.aliyun.com/zh/model-studio/error-code, checked 2026-11-30;
# dashscope 2.0.2 dashscope/v2/errors.py:38-53 and its wire-code table at :241): a content-filter
# refusal is HTTP 400 DataInspectionFailed natively and data_inspection_failed in compatible mode
# (the SDK maps it to ContentFilterError); Arrearage (HTTP 400) is an account that cannot pay.
_CODES: dict[str, type[APIError]] = {
    "DataInspectionFailed": ContentFilteredError, "data_inspection_failed": ContentFilteredError,
    "Arrearage": QuotaExceededError,
}


def dashscope_error_rule(status: int | None, body: Any) -> type[APIError] | None:
    code, typ, _ = body_code(body)
    if code.endswith("DataInspectionFailed"):  # also the qualified "InternalError.Algo.DataInspectionFailed"
        return ContentFilteredError
    return _CODES.get(code) or _CODES.get(typ)


register_error_rule("qwen", dashscope_error_rule)


# Qwen3 open-source models (qwen3-8b, qwen3-30b-a3b, qwen3-235b-a22b, ...) think by default, and
# DashScope answers a non-streamed call to them with 400 "parameter.enable_thinking must be set to
# false for non-streaming calls" unless the body says enable_thinking: false.
# https://help.aliyun.com/zh/model-studio/deep-thinking (checked 2026-11-30); the error as users meet it:
# alibaba/spring-ai-alibaba#867, QuantumNous/new-api#1109. The dated -instruct/-thinking-2507 variants
# have no switch, so they do not match.
_QWEN3_OPEN = re.compile(r"qwen3-\d+(?:\.\d+)?b(?:-a\d+(?:\.\d+)?b)?")


class QwenChat(OnlineChatModuleBase, source="qwen"):
    default_system_prompt = ("You are Tongyi Qianwen (Qwen), a large language model from Alibaba Cloud, and a "
                             "helpful assistant.")
    default_base_url = DASHSCOPE + "compatible-mode/v1/"
    default_model = "qwen-plus"
    vlm_model_prefixes = ("qwen-vl", "qwen2.5-vl", "qwen3-vl", "qvq")
    has_deployment = True
    message_extras = ("reasoning_content",)  # compatible mode takes it back (online/_message_fields.py)

    def _build_body(self, messages: list[dict[str, Any]], *, model: str, stream: bool,
                    tools: list[dict[str, Any]] | None, params: dict[str, Any]) -> dict[str, Any]:
        body = super()._build_body(messages, model=model, stream=stream, tools=tools, params=params)
        if not stream and "enable_thinking" not in body and _QWEN3_OPEN.fullmatch(model.lower()):
            body["enable_thinking"] = False  # see _QWEN3_OPEN; a caller's own value is kept
        return body

    def _native(self, path: str) -> str:
        """A native API URL on the same host as the compatible-mode base URL."""
        root = self._base_url.split("compatible-mode/")[0]
        return urljoin(root if root.endswith("/") else root + "/", "api/v1/" + path)

    async def _upload_train_file(self, path: str) -> str:
        data = await read_training_file(path)
        resp = await request_raw("POST", self._native("files"),
                                 files={"files": (os.path.basename(path), data, "application/jsonl")},
                                 data={"descriptions": "asyncllm fine-tune data"}, headers=self._auth_headers(),
                                 settings=self._http, provider="qwen")
        body = resp.json()
        try:
            return str(body["data"]["uploaded_files"][0]["file_id"])
        except (KeyError, IndexError, TypeError) as exc:
            raise ProtocolError(f"DashScope file upload answer has no file id: {str(body)[:200]!r}",
                                provider="qwen") from exc

    async def _create_finetuning_job(self, model: str, file_id: str, **kw: Any) -> tuple[str, str]:
        kw.pop("capacity", None)  # a deployment setting, read by _create_deployment
        body = {"model": model, "training_file_ids": [file_id], "training_type": kw.pop("training_type", "sft"),
                "hyper_parameters": kw.pop("hyper_parameters", kw)}
        out, _ = await self._request_json("POST", self._native("fine-tunes"), json=body, model=model)
        o = out.get("output") or {}
        return str(o["job_id"]), str(o.get("status", "PENDING"))

    async def _query_finetuning_job(self, job_id: str) -> tuple[str | None, str]:
        out, _ = await self._request_json("GET", self._native(f"fine-tunes/{job_id}"))
        o = out.get("output") or {}
        return o.get("finetuned_output"), str(o.get("status", ""))

    async def _create_deployment(self) -> tuple[str, str]:
        body = {"model_name": self._model_name, "capacity": int(self._train_params.get("capacity", 2))}
        out, _ = await self._request_json("POST", self._native("deployments"), json=body, model=self._model_name)
        o = out.get("output") or {}
        dep = str(o.get("deployed_model") or o.get("deployment_id"))
        if o.get("deployed_model"):
            self._model_name = dep  # calls go to the deployment's model name
        return dep, str(o.get("status", "PENDING"))

    async def _query_deployment(self, deployment_id: str) -> str:
        out, _ = await self._request_json("GET", self._native(f"deployments/{deployment_id}"))
        return str((out.get("output") or {}).get("status", ""))


class QwenEmbedding(OnlineEmbeddingModuleBase, source="qwen"):
    default_url = DASHSCOPE + "api/v1/services/embeddings/text-embedding/text-embedding"
    default_model = "text-embedding-v3"
    url_suffix = "api/v1/services/embeddings/text-embedding/text-embedding"
    max_batch_size = 10  # DashScope's limit per request

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self._batch_size = min(self._batch_size, self.max_batch_size)

    def _build_body(self, texts: list[Any], model: str | None, params: dict[str, Any]) -> dict[str, Any]:
        merged = {**self._static_params, **params}
        body: dict[str, Any] = {"model": model, "input": {"texts": texts}}
        if merged:
            body["parameters"] = merged
        return body

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        items = ((data or {}).get("output") or {}).get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise ProtocolError(f"DashScope embedding answer has no output.embeddings: {str(data)[:200]!r}",
                                provider="qwen", model=self._model_name)
        return ordered([(it.get("text_index", i), it.get("embedding")) for i, it in enumerate(items)], n, "qwen")


class QwenMultimodalEmbedding(MultimodalEmbeddingBase, source="qwen", kind="multimodal_embed"):
    """DashScope's native multimodal embedding: an input's parts go as ``input.contents``.

    The answer has one vector per content unless the model fuses them; an input that comes
    back as several vectors is an error naming the fix (send its parts as separate inputs).
    """

    default_url = DASHSCOPE + "api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"
    default_model = "qwen2.5-vl-embedding"
    url_suffix = "api/v1/services/embeddings/multimodal-embedding/multimodal-embedding"

    def _mm_body(self, text: str | None, images: list[ImageRef], model: str | None,
                 params: dict[str, Any]) -> dict[str, Any]:
        contents: list[dict[str, str]] = [{"text": text}] if text else []
        contents.extend({"image": ref.url} for ref in images)
        body: dict[str, Any] = {"model": model, "input": {"contents": contents}}
        merged = {**self._static_params, **params}
        if merged:
            body["parameters"] = merged
        return body

    def _mm_vector(self, data: Any, model: str | None) -> list[float]:
        items = ((data or {}).get("output") or {}).get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items or not isinstance(items[0].get("embedding"), list):
            raise self._no_vector(data, model, "output.embeddings")
        if len(items) > 1:
            raise ProtocolError(f"{model} answered {len(items)} vectors for one input (it does not fuse text "
                                "and images); pass the text and each image as separate inputs",
                                provider="qwen", model=model)
        vec: list[float] = items[0]["embedding"]
        return vec


class QwenRerank(OnlineRerankModuleBase, source="qwen"):
    default_url = DASHSCOPE + "api/v1/services/rerank/text-rerank/text-rerank"
    default_model = "gte-rerank-v2"
    url_suffix = "api/v1/services/rerank/text-rerank/text-rerank"

    def _build_rerank_body(self, query: str, documents: list[str], top_n: int | None, model: str | None,
                           params: dict[str, Any]) -> dict[str, Any]:
        parameters: dict[str, Any] = {"return_documents": False, **self._static_params, **params}
        if top_n is not None:
            parameters["top_n"] = top_n
        return {"model": model, "input": {"query": query, "documents": documents}, "parameters": parameters}

    def _parse_rerank(self, data: Any) -> list[tuple[int, float]]:
        results = ((data or {}).get("output") or {}).get("results") if isinstance(data, dict) else None
        if not isinstance(results, list):
            raise ProtocolError(f"DashScope rerank answer has no output.results: {str(data)[:200]!r}",
                                provider="qwen", model=self._model_name)
        return [(int(r["index"]), float(r["relevance_score"])) for r in results]
