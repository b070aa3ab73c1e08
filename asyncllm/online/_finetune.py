"""Fine-tuning and deployment through a provider's API, driven by ``update()``.

``chat.trainset("data.jsonl")`` arms the train task; ``await chat.update()`` then uploads the
file, creates the job, polls it (logging each status change and calling ``progress`` if
given) and switches the module to the tuned model; providers that need a deployment of the
tuned model (``has_deployment``) get one created and polled in the deploy stage.

:class:`FineTuneMixin` is the driver and the hook contract; :class:`OpenAIFineTuneAPI` is the
OpenAI ``files`` + ``fine_tuning/jobs`` implementation, which GLM shares.

The hooks may be ``async def`` (ours) or plain ``def`` returning values (the seed's, ported as
written): a plain one runs in a worker thread (``file_handler.call_hook``), never on the loop.
A provider mixing in ``FileHandlerBase`` has its ``_convert_file_format`` applied to the file
before the upload.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Self
from urllib.parse import urljoin

import anyio

from .._concurrency import call_any
from .._config import config
from .._exceptions import ConfigError, LifecycleError
from .._http import HTTPSettings, request_raw
from .._progress import Progress, progress
from .file_handler import FileHandlerBase, call_hook, converted_train_file, read_training_file

__all__ = ["FineTuneMixin", "OpenAIFineTuneAPI"]

log = logging.getLogger("asyncllm.online")

_DONE = frozenset({"succeeded", "success", "completed", "finished", "succeed"})
_FAILED = frozenset({"failed", "cancelled", "canceled", "error", "expired"})
_RUNNING = frozenset({"running", "deployed", "ready", "available", "serving"})


class FineTuneMixin:
    """The train/deploy lifecycle of an online chat module; providers implement the hooks."""

    source: ClassVar[str]
    has_deployment: ClassVar[bool] = False
    _model_name: str | None
    _trainset: str | None
    _train_params: dict[str, Any]
    _progress: Callable[[dict[str, Any]], Any] | None
    _is_trained: bool
    _poll_interval: float
    _deploy_poll_interval: float
    _shown: Progress | None = None  # the progress display while a job runs

    def _init_finetune(self, poll_interval: float | None) -> None:
        self._trainset = None
        self._train_params = {}
        self._progress = None
        self._is_trained = False
        self._poll_interval = float(config.get("finetune_poll_interval") if poll_interval is None else poll_interval)
        self._deploy_poll_interval = float(config.get("deploy_poll_interval") if poll_interval is None
                                           else poll_interval)

    def trainset(self, path: str, *, progress: Callable[[dict[str, Any]], Any] | None = None,
                 **train_params: Any) -> Self:
        """Fine-tune on ``path`` (JSONL of ``{"messages": [...]}``) at the next ``update()``.

        ``train_params`` go to the job (e.g. ``n_epochs``, ``batch_size``,
        ``learning_rate_multiplier``, ``suffix``); ``progress(event)`` sees each poll.
        """
        if not isinstance(path, str) or not path:
            raise ConfigError("trainset() takes the path of a JSONL training file")
        self._trainset = path
        self._train_params = train_params
        self._progress = progress
        return self

    def set_train_tasks(self, train_file: str, **train_params: Any) -> Self:
        """The seed's name of :meth:`trainset`."""
        return self.trainset(train_file, **train_params)

    async def set_specific_finetuned_model(self, model_id: str) -> Self:
        """Use an already tuned model from now on (the seed's semantics: when the provider can list
        its tuned models, ``_get_finetuned_model_names()``, ``model_id`` must be one of them)."""
        if type(self)._get_finetuned_model_names is not FineTuneMixin._get_finetuned_model_names:
            valid, _ = await call_hook(self._get_finetuned_model_names)
            names = [model for _, model in valid]
            if model_id not in names:
                raise ConfigError(f"{model_id!r} is not one of this account's fine-tuned models {names}; pass one "
                                  "of them (a job still running has no model yet)")
        self._model_name = model_id
        self._is_trained = True
        return self

    def _get_train_tasks(self) -> Any:
        return self._run_finetune if self._trainset else None

    def _get_deploy_tasks(self) -> Any:
        return self._run_deploy if self._is_trained and self.has_deployment else None

    async def _report(self, event: dict[str, Any]) -> None:
        log.info("%s fine-tune %s: %s", self.source, event.get("job_id", ""), event.get("status"))
        if self._shown is not None:
            self._shown.note(str(event.get("status") or ""))
        if self._progress is not None:
            await call_any(self._progress, event)

    async def _run_finetune(self) -> str:
        path = self._trainset
        if not path or not self._model_name:
            raise ConfigError("fine-tuning needs a base model and trainset(path)")
        trainable = getattr(self, "trainable_models", None)
        if trainable and self._model_name not in trainable:
            # The seed's check: the list may be out of date, so a new model is tried anyway.
            log.warning("%s: %s is not in this platform's list of trainable models %s; trying anyway",
                        self.source or type(self).__name__, self._model_name, list(trainable))
        with progress(f"{self.source} fine-tune of {self._model_name}") as shown:
            self._shown = shown
            try:
                return await self._finetune_job(path)
            finally:
                self._shown = None

    async def _finetune_job(self, path: str) -> str:
        assert self._model_name is not None
        if isinstance(self, FileHandlerBase):
            async with converted_train_file(self, path) as converted:
                file_id = await call_hook(self._upload_train_file, converted)
        else:
            file_id = await call_hook(self._upload_train_file, path)
        await self._report({"stage": "uploaded", "status": "uploaded", "file_id": file_id})
        job_id, status = await call_hook(self._create_finetuning_job, self._model_name, file_id,
                                         **self._train_params)
        await self._report({"stage": "created", "job_id": job_id, "status": status})
        tuned: str | None = None
        while status.lower() not in _DONE:
            if status.lower() in _FAILED:
                raise LifecycleError(f"{self.source} fine-tuning job {job_id} ended with status {status!r}")
            await anyio.sleep(self._poll_interval)
            tuned, status = await call_hook(self._query_finetuning_job, job_id)
            await self._report({"stage": "poll", "job_id": job_id, "status": status, "model": tuned})
        if not tuned:
            tuned, status = await call_hook(self._query_finetuning_job, job_id)
        if not tuned:
            raise LifecycleError(f"{self.source} fine-tuning job {job_id} succeeded without naming the model")
        self._model_name = tuned
        self._is_trained = True
        self._trainset = None  # trained once; a later update() does not train again
        await self._report({"stage": "done", "job_id": job_id, "status": status, "model": tuned})
        return tuned

    async def _run_deploy(self) -> None:
        dep_id, status = await call_hook(self._create_deployment)
        while status.lower() not in _RUNNING:
            if status.lower() in _FAILED:
                raise LifecycleError(f"{self.source} deployment {dep_id} ended with status {status!r}")
            await anyio.sleep(self._deploy_poll_interval)
            status = await call_hook(self._query_deployment, dep_id)
            await self._report({"stage": "deploy", "job_id": dep_id, "status": status})

    # -- hooks -------------------------------------------------------------------------------

    async def _upload_train_file(self, path: str) -> str:
        raise ConfigError(f"{self.source or type(self).__name__} does not offer fine-tuning through its API")

    async def _create_finetuning_job(self, model: str, file_id: str, **kw: Any) -> tuple[str, str]:
        raise ConfigError(f"{self.source or type(self).__name__} does not offer fine-tuning through its API")

    async def _query_finetuning_job(self, job_id: str) -> tuple[str | None, str]:
        raise ConfigError(f"{self.source or type(self).__name__} does not offer fine-tuning through its API")

    async def _get_finetuned_model_names(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(``[(job_id, model)]`` of the jobs that succeeded, the same of those that did not)."""
        raise ConfigError(f"{self.source or type(self).__name__} cannot list its fine-tuned models")

    async def _create_deployment(self) -> tuple[str, str]:
        raise ConfigError(f"{self.source or type(self).__name__} has no deployment API")

    async def _query_deployment(self, deployment_id: str) -> str:
        raise ConfigError(f"{self.source or type(self).__name__} has no deployment API")


class OpenAIFineTuneAPI:
    """OpenAI's ``files`` + ``fine_tuning/jobs`` endpoints (hooks of :class:`FineTuneMixin`)."""

    source: ClassVar[str]
    _base_url: str
    _http: HTTPSettings

    if TYPE_CHECKING:
        def _auth_headers(self) -> dict[str, str]: ...

        async def _request_json(self, method: str, url: str, *, model: str | None = None,
                                settings: HTTPSettings | None = None,
                                **kw: Any) -> tuple[Any, Mapping[str, str]]: ...

    def _api(self, path: str) -> str:
        base = self._base_url if self._base_url.endswith("/") else self._base_url + "/"
        return urljoin(base, path)

    async def _upload_train_file(self, path: str) -> str:
        data = await read_training_file(path)
        resp = await request_raw("POST", self._api("files"), files={"file": (os.path.basename(path), data,
                                                                             "application/jsonl")},
                                 data={"purpose": "fine-tune"}, headers=self._auth_headers(), settings=self._http,
                                 provider=self.source)
        return str(resp.json()["id"])

    async def _create_finetuning_job(self, model: str, file_id: str, **kw: Any) -> tuple[str, str]:
        hyper = {k: kw.pop(k) for k in ("n_epochs", "batch_size", "learning_rate_multiplier") if k in kw}
        body: dict[str, Any] = {"model": model, "training_file": file_id, **kw}
        if hyper:
            body["hyperparameters"] = hyper
        job, _ = await self._request_json("POST", self._api("fine_tuning/jobs"), json=body, model=model)
        return str(job["id"]), str(job.get("status", "queued"))

    async def _query_finetuning_job(self, job_id: str) -> tuple[str | None, str]:
        job, _ = await self._request_json("GET", self._api(f"fine_tuning/jobs/{job_id}"))
        return job.get("fine_tuned_model"), str(job.get("status", ""))

    async def _get_finetuned_model_names(self) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        jobs, _ = await self._request_json("GET", self._api("fine_tuning/jobs"))
        done: list[tuple[str, str]] = []
        other: list[tuple[str, str]] = []
        for job in jobs.get("data") or []:
            pair = (str(job.get("id")), str(job.get("fine_tuned_model") or ""))
            (done if str(job.get("status", "")).lower() in _DONE and pair[1] else other).append(pair)
        return done, other

    async def _cancel_finetuning_job(self, job_id: str) -> str:
        job, _ = await self._request_json("POST", self._api(f"fine_tuning/jobs/{job_id}/cancel"))
        return str(job.get("status", ""))
