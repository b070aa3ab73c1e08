"""SenseNova: OpenAI wire; the key is either an ``sk-`` token sent as is, or an access key +
secret key (``"ak:sk"``, or ``secret_key=`` / ``ASYNCLLM_SENSENOVA_SECRET_KEY``) from which an
HS256 JWT ``{iss: ak, exp, nbf}`` is made — and remade before it expires. Several keys:
``api_key=["sk-1", "sk-2"]`` or ``api_key=["ak1:sk1", "ak2:sk2"]`` (each pair its own JWT); a
single ``secret_key=`` cannot be shared by several access keys. Vision parts use
``image_url`` (a URL string) or ``image_base64``; embeddings answer ``embeddings[]``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import time
from typing import Any
from urllib.parse import urljoin

import anyio
import orjson

from .._config import Secret, config
from .._exceptions import ConfigError, LifecycleError, ProtocolError
from .._http import request_raw
from ._keys import RedactedHeaders
from ._media import ImageRef
from .chat_base import OnlineChatModuleBase
from .embed_base import OnlineEmbeddingModuleBase, ordered
from .file_handler import read_training_file

__all__ = ["SenseNovaAuth", "SenseNovaChat", "SenseNovaEmbedding", "make_jwt"]

FILE_UPLOAD_URL = "https://file.sensenova.cn/v1/files"
JWT_TTL = 1800
REFRESH_MARGIN = 300


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def make_jwt(ak: str, sk: str, ttl: int = JWT_TTL, now: float | None = None) -> str:
    t = int(time.time() if now is None else now)
    head = _b64(orjson.dumps({"alg": "HS256", "typ": "JWT"}))
    body = _b64(orjson.dumps({"iss": ak, "exp": t + ttl, "nbf": t - 5}))
    signing = head + b"." + body
    return (signing + b"." + _b64(hmac.new(sk.encode(), signing, hashlib.sha256).digest())).decode()


class SenseNovaAuth:
    """Bearer header for an ``sk-`` key or a JWT from an access/secret key pair (refreshed)."""

    __slots__ = ("_ak", "_exp", "_headers", "_key", "_sk")

    def __init__(self, key: Secret | None, secret_key: str | Secret | None) -> None:
        self._key = key
        self._ak: str | None = None
        self._sk: Secret | None = None
        self._exp = 0.0
        self._headers = RedactedHeaders()
        if key is None:
            return
        raw = key.get()
        sk = secret_key if secret_key is not None else config.secret("sensenova_secret_key")
        if ":" in raw and not raw.startswith("sk-"):
            ak, _, s = raw.partition(":")
            self._ak, self._sk = ak, Secret(s)
        elif sk:
            self._ak, self._sk = raw, sk if isinstance(sk, Secret) else Secret(sk)
        else:
            self._headers["authorization"] = "Bearer " + raw

    def __repr__(self) -> str:
        return "<SenseNovaAuth ***>"

    def headers(self) -> dict[str, str]:
        if self._sk is not None and time.time() > self._exp - REFRESH_MARGIN:
            assert self._ak is not None
            self._headers["authorization"] = "Bearer " + make_jwt(self._ak, self._sk.get())
            self._exp = time.time() + JWT_TTL
        return self._headers


def _check_key_list(api_key: Any, secret_key: str | Secret | None) -> None:
    """Several access keys cannot share one secret key: each needs its own pair."""
    if not isinstance(api_key, (list, tuple)) or len(api_key) < 2:
        return
    if secret_key is not None:
        raise ConfigError("SenseNova: secret_key= pairs with one access key; for several keys pass "
                          "api_key=['ak1:sk1', 'ak2:sk2'] (or several 'sk-' keys) and no secret_key")
    if config.secret("sensenova_secret_key") and not all(_self_contained(k) for k in api_key):
        raise ConfigError("SenseNova: ASYNCLLM_SENSENOVA_SECRET_KEY pairs with one access key; with several "
                          "keys give each as 'ak:sk' (or an 'sk-' key)")


def _self_contained(key: str | Secret) -> bool:
    raw = key.get() if isinstance(key, Secret) else key
    return raw.startswith("sk-") or ":" in raw


class SenseNovaChat(OnlineChatModuleBase, source="sensenova"):
    default_system_prompt = "You are an AI assistant developed by SenseTime."
    structured_output = "prompt"  # no JSON mode documented for chat completions
    default_base_url = "https://api.sensenova.cn/compatible-mode/v1/"
    default_model = "SenseChat-5"
    vlm_model_prefixes = ("sensenova-v6", "sensechat-vision")

    def __init__(self, model: str | None = None, *, secret_key: str | Secret | None = None, **kw: Any) -> None:
        _check_key_list(kw.get("api_key"), secret_key)
        self._secret_key = secret_key  # read by _make_auth, which the base's __init__ calls
        super().__init__(model, **kw)

    def _make_auth(self, key: Secret | None) -> SenseNovaAuth:
        return SenseNovaAuth(key, self._secret_key)

    def _image_part(self, ref: ImageRef) -> dict[str, Any]:
        if ref.b64 is not None:
            return {"type": "image_base64", "image_base64": ref.b64}
        return {"type": "image_url", "image_url": ref.url}

    # -- fine-tuning: file → dataset (polled until ready) → job; serving for the tuned model -----
    # As the official SDK sends them (sensenova 1.0.6 on PyPI, checked 2026-11-30): resources under
    # <api_base>/llm/... (api_resources/fine_tune.py OBJECT_NAME "llm.fine-tunes", dataset.py
    # "llm.fine-tune.datasets", serving.py "llm.fine-tune.servings"; api_resource.py class_url turns
    # the dots into slashes); a dataset's `files` is a list of file ids (tests/test_datasets.py
    # test_dataset_create_fileid); hyperparameters nested under `training` (cli.py FineTune.create,
    # tests/test_fine_tunes.py); a serving's `config.run_time` (tests/test_servings.py). Files go to
    # https://file.sensenova.cn/v1/files (__init__.py api_base_file) as multipart `file` + fields.

    has_deployment = True

    def _api(self, path: str) -> str:
        base = self._base_url.replace("compatible-mode/", "")
        return urljoin(base if base.endswith("/") else base + "/", "llm/" + path)

    async def _get(self, path: str) -> Any:
        data, _ = await self._request_json("GET", self._api(path))
        return data

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        data, _ = await self._request_json("POST", self._api(path), json=body, model=self._model_name)
        return data

    async def _upload_train_file(self, path: str) -> str:
        data = await read_training_file(path)
        url = str(self._train_params.pop("upload_url", FILE_UPLOAD_URL))
        resp = await request_raw("POST", url, files={"file": (os.path.basename(path), data, "application/jsonl")},
                                 data={"scheme": "FINE_TUNE_2", "description": "asyncllm fine-tune data"},
                                 headers=self._auth_headers(), settings=self._http, provider="sensenova")
        file_id = str(resp.json()["id"])
        ds = await self._post("fine-tune/datasets", {"description": "asyncllm", "files": [file_id]})
        ds_id, status = str(ds["dataset"]["id"]), str(ds["dataset"].get("status", ""))
        while status.lower() != "ready":
            if status.lower() in ("failed", "error", "invalid"):
                raise LifecycleError(f"SenseNova dataset {ds_id} ended with status {status!r}")
            await anyio.sleep(self._poll_interval)
            status = str((await self._get(f"fine-tune/datasets/{ds_id}"))["dataset"].get("status", ""))
        return ds_id

    async def _create_finetuning_job(self, model: str, file_id: str, **kw: Any) -> tuple[str, str]:
        body: dict[str, Any] = {"model": model, "training_file": file_id, "suffix": kw.pop("suffix", "asyncllm")}
        hyper = kw.pop("hyperparams", None)
        if hyper is None and kw:
            hyper = {"training": kw}  # e.g. learning_rate, n_iters, batch_size (sensenova util.py)
        if hyper:
            body["hyperparams"] = hyper
        job = (await self._post("fine-tunes", body))["job"]
        return str(job["id"]), str(job.get("status", "pending"))

    async def _query_finetuning_job(self, job_id: str) -> tuple[str | None, str]:
        job = (await self._get(f"fine-tunes/{job_id}"))["job"]
        return job.get("fine_tuned_model"), str(job.get("status", ""))

    async def _create_deployment(self) -> tuple[str, str]:
        job = (await self._post("fine-tune/servings", {"model": self._model_name, "config": {"run_time": 0}}))["job"]
        return str(job["id"]), str(job.get("status", "PENDING"))

    async def _query_deployment(self, deployment_id: str) -> str:
        return str((await self._get(f"fine-tune/servings/{deployment_id}"))["job"].get("status", ""))


class SenseNovaEmbedding(OnlineEmbeddingModuleBase, source="sensenova"):
    default_url = "https://api.sensenova.cn/v1/llm/embeddings"
    default_model = "nova-embedding-stable"
    url_suffix = "llm/embeddings"

    def __init__(self, embed_url: str | None = None, embed_model_name: str | None = None, *,
                 secret_key: str | Secret | None = None, **kw: Any) -> None:
        _check_key_list(kw.get("api_key"), secret_key)
        self._secret_key = secret_key
        super().__init__(embed_url, embed_model_name, **kw)

    def _make_auth(self, key: Secret | None) -> SenseNovaAuth:
        return SenseNovaAuth(key, self._secret_key)

    def _parse_response(self, data: Any, n: int) -> list[list[float]]:
        items = data.get("embeddings") if isinstance(data, dict) else None
        if not isinstance(items, list):
            if isinstance(data, dict) and isinstance(data.get("data"), list):
                return super()._parse_response(data, n)
            raise ProtocolError(f"SenseNova embedding answer has no 'embeddings': {str(data)[:200]!r}",
                                provider="sensenova", model=self._model_name)
        return ordered([(it.get("index", i), it.get("embedding")) for i, it in enumerate(items)], n, "sensenova")

