"""Download one model repository from a hub into a staging folder, then move it into place.

The library runs this as a subprocess (``trainable/hub.py``), so a download never blocks the
event loop and is cancelled by killing the process::

    python -m asyncllm.trainable._hub_worker --source huggingface --repo Org/name \\
        --staging CACHE/.partial/Org--name-1f2e --dest CACHE/Org/name [--revision main] [--file x.gguf]

Route (Hugging Face): ``HfApi.model_info(files_metadata=True)`` resolves the revision to a
commit and gives the total size (and is where a missing, gated or private repository, or an
unreachable hub, shows up); ``snapshot_download(revision=<commit>, local_dir=STAGING)`` fetches
the files; a marker file is written last and the staging folder is renamed to ``--dest``. A
rename is atomic, so ``--dest`` either does not exist or holds the whole repository: a download
killed half-way leaves only the staging folder, which is never taken for a model.

ModelScope: ``modelscope.snapshot_download(local_dir=STAGING)``, then the same marker and rename.

The token is read from the environment (``HF_TOKEN`` / ``MODELSCOPE_API_TOKEN``), never from
the command line. stdout carries one JSON object per line: ``{"event": "listed", "bytes": N,
"files": K, "commit": sha}``, ``{"event": "progress", "bytes_done": n}`` (the bytes on disk,
twice a second while they grow), and last ``{"done": true, "path": DEST}`` or
``{"done": false, "kind": "offline" | "not_found" | "gated" | "unauthorized" | "failed",
"error": message}``. The file is self-contained (imports nothing from asyncllm).
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import shutil
import sys
import threading
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MARKER = ".asyncllm-download.json"

# Exception class names (anywhere in the MRO) that mean "the hub could not be reached", across
# huggingface_hub's HTTP stacks (requests before 1.0, httpx after) and ModelScope's (requests).
_UNREACHABLE = {"ConnectError", "ConnectTimeout", "ConnectionError", "TimeoutException", "Timeout",
                "ReadTimeout", "NetworkError", "OfflineModeIsEnabled", "LocalEntryNotFoundError"}


def emit(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _names(exc: BaseException) -> set[str]:
    return {c.__name__ for c in type(exc).__mro__}


def classify(exc: BaseException) -> str:
    """``offline``, ``not_found``, ``gated``, ``unauthorized`` or ``failed`` for a hub client's error."""
    names = _names(exc)
    if "GatedRepoError" in names:  # a subclass of RepositoryNotFoundError: test it first
        return "gated"
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError", "EntryNotFoundError",
                "RemoteEntryNotFoundError"}:
        return "not_found"
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return "unauthorized"
    if status == 404:
        return "not_found"
    if names & _UNREACHABLE or isinstance(exc, (ConnectionError, TimeoutError)):
        return "offline"
    cause = exc.__cause__ or exc.__context__
    return classify(cause) if cause is not None and cause is not exc else "failed"


def _disk_bytes(folder: Path) -> int:
    total = 0
    for root, _, files in os.walk(folder):
        for name in files:
            with contextlib.suppress(OSError):  # renamed under us (an .incomplete file finishing)
                total += os.path.getsize(os.path.join(root, name))
    return total


class Reporter:
    """Reports the bytes written under the staging folder while they grow (a daemon thread):
    measured on disk, so it needs nothing from the hub client's own progress bars."""

    def __init__(self, folder: Path, interval: float = 0.5) -> None:
        self.folder = folder
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="hub-progress", daemon=True)

    def __enter__(self) -> Reporter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        last = -1
        while not self._stop.wait(self.interval):
            done = _disk_bytes(self.folder)
            if done != last:
                emit(event="progress", bytes_done=done)
                last = done


def _hf(args: argparse.Namespace, staging: Path) -> str:
    from huggingface_hub import HfApi, snapshot_download

    info = HfApi().model_info(args.repo, revision=args.revision, files_metadata=True)
    files = [(s.rfilename, s.size or 0) for s in info.siblings or []]
    if args.file:
        files = [f for f in files if fnmatch.fnmatch(f[0], args.file)]
        if not files:
            emit(done=False, kind="not_found", error=f"the repository {args.repo} has no file {args.file!r}")
            raise SystemExit(1)
    emit(event="listed", bytes=sum(size for _, size in files), files=len(files), commit=info.sha)
    with Reporter(staging):
        # cache_dir inside the staging folder: the client's refs and locks stay out of ~/.cache.
        snapshot_download(args.repo, revision=info.sha, local_dir=str(staging), cache_dir=str(staging / ".cache"),
                          allow_patterns=[args.file] if args.file else None, max_workers=args.workers)
    return str(info.sha or "")


def _modelscope(args: argparse.Namespace, staging: Path) -> str:
    from modelscope import snapshot_download

    emit(event="listed", bytes=0, files=0, commit="")  # ModelScope's client lists nothing up front
    with Reporter(staging):
        snapshot_download(args.repo, revision=args.revision or None, local_dir=str(staging),
                          allow_patterns=[args.file] if args.file else None)
    return ""


def run(args: argparse.Namespace) -> Path:
    staging, dest = Path(args.staging), Path(args.dest)
    staging.mkdir(parents=True, exist_ok=True)
    commit = (_modelscope if args.source == "modelscope" else _hf)(args, staging)
    # The hub client's bookkeeping (resume metadata) is not part of the model.
    shutil.rmtree(staging / ".cache", ignore_errors=True)
    (staging / MARKER).write_text(json.dumps({"repo": args.repo, "source": args.source, "commit": commit,
                                              "file": args.file, "finished": time.time()}))
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.rename(staging, dest)
    except OSError:
        # The repository is there already (another download finished first, or an earlier one
        # fetched other files of it): add what it lacks, file by file, each complete.
        if not (dest / MARKER).is_file():
            raise
        for path in sorted(staging.rglob("*")):
            target = dest / path.relative_to(staging)
            if path.is_file() and path.name != MARKER and not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, target)
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="download a model repository from a hub")
    p.add_argument("--source", choices=["huggingface", "modelscope"], default="huggingface")
    p.add_argument("--repo", required=True)
    p.add_argument("--revision", default=None)
    p.add_argument("--file", default=None, help="only this file (a glob), e.g. one GGUF of many")
    p.add_argument("--staging", required=True)
    p.add_argument("--dest", required=True)
    p.add_argument("--workers", type=int, default=4)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        path = run(args)
    except SystemExit:
        raise
    except BaseException as exc:  # the parent turns the kind into a typed error
        kind = classify(exc)
        emit(done=False, kind=kind, error=f"{type(exc).__name__}: {exc}".strip())
        traceback.print_exc()  # to the log file, for whoever debugs it; the parent shows one line
        print(f"download of {args.repo} failed ({kind})", file=sys.stderr)
        return 1
    emit(done=True, path=str(path))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
