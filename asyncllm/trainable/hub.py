"""Models named by their hub id (``Org/name``) are downloaded into the model cache.

``TrainableModule("Org/name", source="huggingface")`` (the seed's "a model not on disk is
downloaded from the model source"): when the name does not resolve to a local model, it is
fetched with the hub's own client (``huggingface_hub``; ``modelscope`` when that package is
installed) into ``<model_cache_dir>/Org/name`` (``ASYNCLLM_MODEL_CACHE_DIR``, default
``~/.asyncllm/model``) and found there from then on. ``Org/name/file.gguf`` fetches only that
file of the repository (GGUF repositories hold many quantisations).

How it runs: the download is a subprocess (``_hub_worker.py``) driven like a fine-tune worker,
so the event loop never blocks and cancelling the caller kills it. It writes into a staging
folder that is renamed into place only once complete (with a marker file), so a cancelled or
failed download never leaves a folder that is later taken for the model; the staging folder
is removed. Progress (bytes on disk against the repository's size) goes to the progress
display. The token (``ASYNCLLM_MODEL_SOURCE_TOKEN``, else the hub's own ``HF_TOKEN``) reaches
the worker in its environment, never on its command line, and is scrubbed from every message.

Failures are typed (:class:`~asyncllm.ModelDownloadError` and its subclasses) with one line that
names the fix: the network or ``HF_ENDPOINT`` when the hub cannot be reached, the name or a
token when the repository is not found, a token with access when it is gated or private.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._config import config
from .._exceptions import (
    ConfigError,
    LifecycleError,
    MissingDependencyError,
    ModelAccessError,
    ModelDownloadError,
    ModelHubUnreachableError,
    ModelNotFoundError,
)
from .._progress import Progress, progress
from .._requires import missing_imports

__all__ = ["MARKER", "SOURCES", "HubName", "cache_root", "download", "downloaded", "parse_hub_name", "worker_command"]

SOURCES = ("huggingface", "modelscope")
MARKER = ".asyncllm-download.json"  # written last by the worker; also its constant
_PART = r"[A-Za-z0-9][\w.-]*"
_REPO = re.compile(rf"^{_PART}/{_PART}$")
_TOKEN_ENV = {"huggingface": "HF_TOKEN", "modelscope": "MODELSCOPE_API_TOKEN"}
_PIP = {"huggingface": ("huggingface_hub", "hub"), "modelscope": ("modelscope", "modelscope")}


@dataclass(frozen=True)
class HubName:
    """A model named by its hub id, and optionally one file of it."""

    repo: str
    file: str | None = None

    def __str__(self) -> str:
        return f"{self.repo}/{self.file}" if self.file else self.repo


def parse_hub_name(name: str) -> HubName | None:
    """``Org/name`` or ``Org/name/file.gguf`` (when ``Org`` is not a local folder), else None."""
    parts = name.split("/")
    if not _REPO.match("/".join(parts[:2])) or Path(parts[0]).expanduser().is_dir():
        return None
    if len(parts) == 2 and not name.endswith(".gguf"):
        return HubName(name)
    if len(parts) == 3 and parts[2].endswith(".gguf") and re.match(rf"^{_PART}$", parts[2]):
        return HubName("/".join(parts[:2]), parts[2])
    return None


def source_of(source: str | None) -> str:
    value = str(source or config.get("model_source") or "huggingface").strip().lower()
    if value not in SOURCES:
        raise ConfigError(f"model source {value!r} is not one of {', '.join(SOURCES)}: pass "
                          "source='huggingface' or source='modelscope' (or set ASYNCLLM_MODEL_SOURCE)")
    return value


def cache_root() -> Path:
    raw = str(config.get("model_cache_dir") or "")
    return Path(raw).expanduser() if raw else Path.home() / ".asyncllm" / "model"


def _model_file(folder: Path, file: str | None) -> Path:
    """The path an engine takes: the folder of a Hugging Face model, or its one GGUF file."""
    if file:
        return folder / file
    if (folder / "config.json").is_file():
        return folder
    ggufs = sorted(p for p in folder.rglob("*.gguf") if ".cache" not in p.parts)
    if len(ggufs) == 1:
        return ggufs[0]
    if len(ggufs) > 1:
        names = ", ".join(p.name for p in ggufs[:6])
        raise ConfigError(f"{folder} holds several GGUF files ({names}): name one, e.g. "
                          f"TrainableModule('{folder / ggufs[0].name}') or 'Org/name/{ggufs[0].name}'")
    return folder


def downloaded(hub: HubName) -> Path | None:
    """The model's path when a complete download of it is in the cache (its marker is there)."""
    folder = cache_root() / hub.repo
    if not (folder / MARKER).is_file() or (hub.file and not (folder / hub.file).is_file()):
        return None
    return _model_file(folder, hub.file)


def worker_command(hub: HubName, *, source: str, staging: Path, dest: Path, revision: str | None = None) -> list[str]:
    """The worker's argv: names and paths only (the token travels in the environment)."""
    argv = [sys.executable, "-m", "asyncllm.trainable._hub_worker", "--source", source, "--repo", hub.repo,
            "--staging", str(staging), "--dest", str(dest)]
    if revision:
        argv += ["--revision", revision]
    if hub.file:
        argv += ["--file", hub.file]
    return argv


def _endpoint(source: str) -> str:
    if source == "modelscope":
        return "ModelScope"
    return os.environ.get("HF_ENDPOINT") or "https://huggingface.co"


def _scrub(text: str, secrets: list[str]) -> str:
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return text


def _typed(kind: str, hub: HubName, source: str, detail: str, log_path: Path) -> ModelDownloadError:
    where = _endpoint(source)
    token_var = _TOKEN_ENV[source]
    local = (f"or use a copy on disk: TrainableModule('/path/to/{hub.repo.split('/')[-1]}') "
             "(or a folder holding it in ASYNCLLM_MODEL_PATH)")
    if kind == "offline":
        hint = ("HF_HUB_OFFLINE is set: unset it to download, "
                if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on") else "")
        return ModelHubUnreachableError(
            f"cannot reach {where} to download {hub}: {hint}check the network, set HF_ENDPOINT to a "
            f"reachable hub or mirror, {local}", repo=hub.repo, source=source)
    if kind == "not_found":
        return ModelNotFoundError(
            f"{where} has no model {str(hub)!r}: check the name (Org/name as on its hub page); a private "
            f"repository looks like this without a token: set {token_var} (or ASYNCLLM_MODEL_SOURCE_TOKEN), "
            f"{local}", repo=hub.repo, source=source)
    if kind in ("gated", "unauthorized"):
        what = "gated" if kind == "gated" else "private or gated"
        return ModelAccessError(
            f"{hub.repo} is {what} on {where} and the request was refused: accept its terms on the hub page "
            f"and set {token_var} (or ASYNCLLM_MODEL_SOURCE_TOKEN) to a token with access, {local}",
            repo=hub.repo, source=source)
    return ModelDownloadError(f"downloading {hub} from {where} failed: {detail} (log: {log_path})",
                              repo=hub.repo, source=source)


class _Display:
    """The download on the progress display: looking up, then megabytes against the total."""

    def __init__(self, desc: str) -> None:
        self.desc = desc
        self.phase: Progress = progress(desc)
        self.phase.note("looking up")
        self.mb = 0

    async def feed(self, event: dict[str, Any]) -> None:
        if event.get("event") == "listed":
            total = int(event.get("bytes") or 0)
            self.phase.close()
            self.phase = progress(self.desc, total=max(1, math.ceil(total / 1e6)) if total else None, unit="MB")
        elif event.get("event") == "progress":
            mb = int(int(event.get("bytes_done") or 0) / 1e6)
            if mb > self.mb:
                self.phase.update(mb - self.mb)
                self.mb = mb

    def close(self, status: str | None) -> None:
        self.phase.close(status)


async def download(hub: HubName, *, source: str | None = None, revision: str | None = None,
                   timeout: float | None = None) -> Path:
    """Fetch ``hub`` into the model cache (unless a complete copy is there); the model's path."""
    from ..finetune._runner import run_worker

    src = source_of(source)
    found = await anyio.to_thread.run_sync(downloaded, hub)
    if found is not None:
        return found
    package, extra = _PIP[src]
    if missing_imports((package,)):
        raise MissingDependencyError(package, extra, f"downloading {hub} from {src}")
    root = cache_root()
    dest = root / hub.repo
    stem = hub.repo.replace("/", "--")
    staging = root / ".partial" / f"{stem}-{uuid.uuid4().hex[:8]}"
    log_path = root / ".logs" / f"{stem}.log"
    secret = config.secret("model_source_token")
    env = {"HF_HUB_DISABLE_PROGRESS_BARS": "1"}
    if secret:
        env[_TOKEN_ENV[src]] = secret.get()
    secrets = [v for v in (secret.get() if secret else "", os.environ.get(_TOKEN_ENV[src], "")) if v]
    events: list[dict[str, Any]] = []
    display = _Display(f"downloading {hub}")

    async def on_event(event: dict[str, Any]) -> None:
        if "done" in event:
            events.append(event)
        await display.feed(event)

    ok = False
    status = "failed"
    try:
        try:
            await run_worker(worker_command(hub, source=src, staging=staging, dest=dest, revision=revision),
                             log_path=log_path, on_event=on_event, env=env, timeout=timeout,
                             what=f"downloading {hub}")
        except LifecycleError as exc:
            last = events[-1] if events else {}
            detail = _scrub(str(last.get("error") or str(exc).splitlines()[0]), secrets)
            raise _typed(str(last.get("kind") or "failed"), hub, src, detail, log_path) from None
        found = await anyio.to_thread.run_sync(downloaded, hub)
        if found is None:
            raise ModelDownloadError(f"the download of {hub} finished but {dest} holds no complete copy "
                                     f"(log: {log_path})", repo=hub.repo, source=src)
        ok = True
        return found
    except BaseException as exc:
        status = "failed" if isinstance(exc, Exception) else "cancelled"
        raise
    finally:
        display.close(None if ok else status)
        if not ok:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(lambda: shutil.rmtree(staging, ignore_errors=True))
