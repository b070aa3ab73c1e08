"""The fake hub's routes, each tied to the ``huggingface_hub`` code that calls it (version 2.x).

==========================================================  ============================================
route                                                       caller in huggingface_hub
==========================================================  ============================================
GET /api/models/{org}/{name}[/revision/{rev}]               ``HfApi.model_info`` (hf_api.py; the plain
  (``?blobs=True``: sizes)                                  path when no revision is given): ``sha``,
                                                            ``siblings[{rfilename, size, blobId}]``
GET /api/models/{org}/{name}/tree/{rev}?recursive=True      ``HfApi._iter_repo_tree_pages`` (hf_api.py),
                                                            listed by ``snapshot_download``: a JSON list
                                                            of ``{type: "file", path, size, oid}``; no
                                                            ``Link`` header, so one page
HEAD /{org}/{name}/resolve/{rev}/{path}                     ``get_hf_file_metadata`` (file_download.py):
                                                            ``X-Repo-Commit``, ``ETag`` (quoted),
                                                            ``Content-Length`` (no redirect)
GET  /{org}/{name}/resolve/{rev}/{path}                     ``http_get`` (file_download.py): the bytes,
                                                            ``Content-Length`` checked against the HEAD
==========================================================  ============================================

Errors follow ``hf_raise_for_status`` (utils/_http.py): the ``X-Error-Code`` header picks the
exception — ``RepoNotFound`` (404, or 401 for a private repository without a token),
``GatedRepo`` (401/403), ``RevisionNotFound``, ``EntryNotFound``.

Test knobs on :class:`FakeHub`: ``repos`` (what is served), ``tokens`` (the tokens that open gated
and private repositories), ``chunk_delay`` (seconds between 64 kB chunks of a file body, to make a
download slow enough to cancel), ``requests`` (method, path, Authorization header of each request)
and ``body_started`` (set when a file body starts streaming).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
from fakeprovider.server import serving
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

CHUNK = 64 * 1024


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    private: bool = False
    sha: str = ""

    def __post_init__(self) -> None:
        if not self.sha:
            digest = hashlib.sha1()
            for name in sorted(self.files):
                digest.update(name.encode() + b"\0" + self.files[name])
            self.sha = digest.hexdigest()  # 40 hex digits: huggingface_hub's commit-hash pattern

    @classmethod
    def from_dir(cls, folder: Path, **kw: Any) -> Repo:
        return cls({p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*"))
                    if p.is_file()}, **kw)


@dataclass
class FakeHub:
    repos: dict[str, Repo] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    chunk_delay: float = 0.0
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    body_started: anyio.Event = field(default_factory=anyio.Event)
    url: str = ""

    # -- helpers -------------------------------------------------------------------------------

    def _error(self, status: int, code: str, message: str) -> Response:
        return JSONResponse({"error": message}, status_code=status,
                            headers={"X-Error-Code": code, "X-Error-Message": message})

    def _open(self, request: Request) -> tuple[Repo | None, Response | None]:
        auth = request.headers.get("authorization", "")
        self.requests.append((request.method, request.url.path, auth))
        repo_id = f"{request.path_params['org']}/{request.path_params['name']}"
        repo = self.repos.get(repo_id)
        if repo is None:
            return None, self._error(404, "RepoNotFound", "Repository not found")
        allowed = auth.removeprefix("Bearer ") in self.tokens
        if repo.gated and not allowed:
            return None, self._error(401, "GatedRepo", f"Access to model {repo_id} is restricted.")
        if repo.private and not allowed:
            return None, self._error(401, "RepoNotFound", "Repository not found")
        rev = request.path_params.get("rev", "main")
        if rev not in ("main", repo.sha):
            return None, self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
        return repo, None

    # -- routes --------------------------------------------------------------------------------

    async def model_info(self, request: Request) -> Response:
        repo, err = self._open(request)
        if repo is None:
            return err  # type: ignore[return-value]
        repo_id = f"{request.path_params['org']}/{request.path_params['name']}"
        siblings = [{"rfilename": n, "size": len(b), "blobId": hashlib.sha1(b).hexdigest()}
                    for n, b in sorted(repo.files.items())]
        return JSONResponse({"id": repo_id, "modelId": repo_id, "sha": repo.sha, "private": repo.private,
                             "gated": "auto" if repo.gated else False, "siblings": siblings})

    async def tree(self, request: Request) -> Response:
        repo, err = self._open(request)
        if repo is None:
            return err  # type: ignore[return-value]
        return JSONResponse([{"type": "file", "path": n, "size": len(b), "oid": hashlib.sha1(b).hexdigest()}
                             for n, b in sorted(repo.files.items())])

    async def resolve(self, request: Request) -> Response:
        repo, err = self._open(request)
        if repo is None:
            return err  # type: ignore[return-value]
        path = request.path_params["path"]
        data = repo.files.get(path)
        if data is None:
            return self._error(404, "EntryNotFound", f"{path} does not exist")
        headers = {"X-Repo-Commit": repo.sha, "ETag": f'"{hashlib.sha1(data).hexdigest()}"',
                   "Content-Length": str(len(data)), "Accept-Ranges": "none"}
        if request.method == "HEAD":
            return Response(b"", headers=headers)

        async def body() -> AsyncIterator[bytes]:
            self.body_started.set()
            for start in range(0, len(data), CHUNK):
                if self.chunk_delay:
                    await anyio.sleep(self.chunk_delay)
                yield data[start:start + CHUNK]

        return StreamingResponse(body(), headers=headers, media_type="application/octet-stream")

    def app(self) -> Starlette:
        repo = "/{org}/{name}"
        return Starlette(routes=[
            Route(f"/api/models{repo}", self.model_info, methods=["GET"]),
            Route(f"/api/models{repo}/revision/{{rev}}", self.model_info, methods=["GET"]),
            Route(f"/api/models{repo}/tree/{{rev}}", self.tree, methods=["GET"]),
            Route(f"{repo}/resolve/{{rev}}/{{path:path}}", self.resolve, methods=["GET", "HEAD"]),
        ])


@asynccontextmanager
async def running_fake_hub(hub: FakeHub) -> AsyncIterator[FakeHub]:
    """Serve ``hub`` on 127.0.0.1; ``hub.url`` is its endpoint (what ``HF_ENDPOINT`` takes)."""
    async with serving(hub.app()) as port:
        hub.url = f"http://127.0.0.1:{port}"
        yield hub
