"""The caller policy, enforced in one place for every entry point of a served module.

Every route that runs the served object (``/generate``, ``/_call``, the OpenAI face, custom
``@route`` methods) admits what the caller sent through one :class:`Gate` before anything
runs: the decoded arguments, keyword arguments (``al.kwargs`` values anywhere in the input
included), the session header's per-module parameters, history and files, and the files named
in ``<lazyllm-query>`` strings. What the server's :class:`~asyncllm.serving.CallerPolicy` does
not allow is refused with a 403 that names the value and the setting that would allow it;
nothing has run by then. The Ray and Slurm forms serve the same app, so the same gate.

Files a caller may send arrive as content (``data:`` URLs). The gate writes them into a
private folder for the request (0700, files 0600, names chosen by us, never by the caller)
and hands the module their paths; :meth:`Gate.aclose` deletes the folder when the request
ends. Paths are accepted only inside the policy's ``file_root``, resolved so that neither
``..`` nor a symlink leads out of it.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import inspect
import mimetypes
import os
import secrets
import shutil
import tempfile
import urllib.parse
from collections.abc import Callable
from typing import Any

import anyio
import anyio.to_thread

from .._context import Session
from .._exceptions import ConfigError
from .._process import write_private
from .._query import decode_query_with_filepaths, encode_query_with_filepaths
from ._asgi import HTTPFail
from .options import CallerPolicy
from .wire import WireError, decode_session, from_wire

__all__ = ["Gate", "declared_params"]

def _open_with(setting: str, flag: str) -> str:
    """How a server opens something: in Python, and as the ``asyncllm serve`` flag."""
    return f"ServerModule(..., caller=al.CallerPolicy({setting})) (asyncllm serve: {flag})"


def declared_params(fn: Callable[..., Any]) -> frozenset[str]:
    """The keyword parameters ``fn``'s signature names (its ``**kwargs`` excluded)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return frozenset()
    return frozenset(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


class Gate:
    """One request's admission under ``policy`` (see the module docstring).

    ``module_ids``: the served tree's module ids; session entries for other ids are dropped.
    """

    __slots__ = ("_checks", "_folder", "_nfiles", "_uploads", "module_ids", "policy")

    def __init__(self, policy: CallerPolicy, module_ids: frozenset[str]) -> None:
        self.policy = policy
        self.module_ids = module_ids
        self._folder: str | None = None
        self._uploads: list[tuple[str, bytes]] = []
        self._checks: list[str] = []  # caller paths inside file_root, re-checked for symlinks on open()
        self._nfiles = 0

    # -- values ------------------------------------------------------------------------------

    def decode(self, data: Any) -> Any:
        """A caller's wire value, decoded, with every file and ``al.kwargs`` in it checked."""
        try:
            return from_wire(data, self)
        except WireError as exc:
            raise HTTPFail(400, "BadRequest", str(exc)) from None

    def text(self, value: str) -> str:
        """A ``<lazyllm-query>`` string from the caller: its files are checked like any others."""
        try:
            decoded = decode_query_with_filepaths(value)
        except ConfigError as exc:
            raise HTTPFail(400, "BadRequest", str(exc)) from None
        if not isinstance(decoded, dict) or not decoded["files"]:
            return value
        return encode_query_with_filepaths(decoded["query"], self.files(decoded["files"], "a <lazyllm-query> input"))

    def kwargs(self, value: dict[str, Any], declared: frozenset[str] = frozenset(),
               where: str = "keyword argument") -> dict[str, Any]:
        """Check (in place) keyword arguments a caller wants some module to receive."""
        for name in list(value):
            value[name] = self._param(name, value[name], declared, where)
        return value

    def _param(self, name: str, value: Any, declared: frozenset[str], where: str) -> Any:
        if name == "lazyllm_files":
            return self.files(value, f"the {where} 'lazyllm_files'")
        if name == "llm_chat_history":
            self.history(where)
            return value
        if name not in declared and name not in self.policy.params:
            raise HTTPFail(403, "ParameterNotAllowed",
                           f"the server does not let callers set the {where} {name!r}: a caller sends the "
                           "module's input, and nothing that could redirect the server's traffic, pick its "
                           "credentials, read its files or raise its costs. To allow it, the server opens it: "
                           + _open_with(f"params={{{name!r}}}", f"--allow-param {name}"), parameter=name)
        cap = self.policy.caps.get(name)
        if cap is not None and value is not None:
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise HTTPFail(400, "BadRequest", f"{name} must be a number, got {type(value).__name__}",
                               parameter=name)
            if value > cap:
                raise HTTPFail(403, "ParameterAboveCap",
                               f"{name}={value!r} is above the server's cap of {cap:g}; the server raises it "
                               "with " + _open_with(f"caps={{{name!r}: ...}}", f"--cap {name}=..."), parameter=name)
        return value

    def history(self, where: str = "chat history") -> None:
        if not self.policy.history:
            raise HTTPFail(403, "HistoryNotAllowed",
                           f"the server takes no chat history from callers ({where}); it opens it with "
                           + _open_with("history=True", "without --no-history"))

    # -- files -------------------------------------------------------------------------------

    def files(self, refs: Any, where: str) -> list[str]:
        """Caller files (one or a list): ``data:`` URLs become paths in the request's folder,
        ``http(s)`` URLs and paths pass if the policy allows them."""
        listed = [refs] if isinstance(refs, str) else refs
        if not isinstance(listed, list) or not all(isinstance(f, str) for f in listed):
            raise HTTPFail(400, "BadRequest", f"{where} must be a string or a list of strings (data: URLs)")
        return [self._file(f, where) for f in listed]

    def _file(self, ref: str, where: str) -> str:
        policy = self.policy
        self._nfiles += 1
        if self._nfiles > policy.max_files:
            raise HTTPFail(413, "TooManyFiles", f"more than {policy.max_files} files in one request; the server "
                           "raises the limit with " + _open_with("max_files=...", "--max-files N")) from None
        if ref.startswith("data:"):
            if not policy.files:
                raise HTTPFail(403, "FilesNotAllowed", f"the server takes no files from callers ({where}); it "
                               "opens them with " + _open_with("files=True", "without --no-files"))
            return self._upload(ref, where)
        if ref.startswith(("http://", "https://")):
            if not policy.file_urls:
                raise HTTPFail(403, "FileURLNotAllowed",
                               f"the server does not fetch file URLs for callers ({where}): send the file's "
                               "content as a data: URL, or the server opens URLs with "
                               + _open_with("file_urls=True", "--file-urls"))
            return ref
        return self._path(ref, where)

    def _upload(self, ref: str, where: str) -> str:
        head, sep, payload = ref.partition(",")
        if not sep:
            raise HTTPFail(400, "BadRequest", f"{where}: a data: URL needs a ',' before its content")
        meta = head[len("data:"):].split(";")
        is_b64 = "base64" in meta[1:]
        limit = self.policy.max_file_bytes
        if (len(payload) * 3 // 4 if is_b64 else len(payload)) > limit + 3:
            raise HTTPFail(413, "FileTooLarge", f"{where}: a file is over the server's limit of {limit} bytes; "
                           "the server raises it with " + _open_with("max_file_bytes=...", "--max-file-bytes N"))
        try:
            data = base64.b64decode(payload, validate=True) if is_b64 else urllib.parse.unquote_to_bytes(payload)
        except (binascii.Error, ValueError):
            raise HTTPFail(400, "BadRequest", f"{where}: a data: URL's base64 content is malformed") from None
        if len(data) > limit:
            raise HTTPFail(413, "FileTooLarge", f"{where}: a file is over the server's limit of {limit} bytes")
        mime = meta[0].strip().lower() or "application/octet-stream"
        ext = mimetypes.guess_extension(mime) or ".bin"
        if self._folder is None:
            # Only a name now (no I/O on the event loop); open() creates it, owner-only.
            self._folder = os.path.join(tempfile.gettempdir(), f"asyncllm-upload-{secrets.token_hex(12)}")
        path = os.path.join(self._folder, f"file{len(self._uploads)}{ext}")
        self._uploads.append((path, data))
        return path

    def _path(self, ref: str, where: str) -> str:
        root = self.policy.file_root
        if root is None:
            raise HTTPFail(403, "FilePathNotAllowed",
                           f"the server does not read files from its own disk for callers ({where}): send the "
                           "file's content as a data: URL (UrlModule does this for local files), or the "
                           "server opens one folder with "
                           + _open_with("file_root='/srv/shared'", "--file-root /srv/shared"))
        if ref.startswith("file://"):
            ref = urllib.parse.unquote(urllib.parse.urlsplit(ref).path)
        base = os.path.abspath(root)
        path = os.path.normpath(os.path.join(base, ref))
        if "\0" in path or os.path.commonpath([base, path]) != base:
            raise HTTPFail(403, "FilePathNotAllowed", f"{where}: {ref!r} is outside the folder the server "
                           "opened to callers (file_root)")
        self._checks.append(path)
        return path

    # -- the session header --------------------------------------------------------------------

    def session(self, header: str | None) -> Session:
        """The request's session, rebuilt from the caller's session header under the policy."""
        sess = Session()  # its id: _ids.new_id, cheap enough for every request
        if not header:
            return sess
        try:
            data = decode_session(header)
        except WireError as exc:
            raise HTTPFail(400, "BadSessionHeader", str(exc)) from None
        if isinstance(data.get("id"), str):
            sess.id = data["id"][:200]
        for key in ("global_parameters", "chat_history", "files"):
            entries = data.get(key)
            if entries is None:
                continue
            if not isinstance(entries, dict):
                raise HTTPFail(400, "BadSessionHeader", f"the session header's {key!r} must be an object")
            for mid, value in entries.items():
                if mid not in self.module_ids:
                    continue  # not a module this server serves: it would reach nothing
                getattr(sess, key)[mid] = self._session_entry(key, value)
        return sess

    def _session_entry(self, key: str, value: Any) -> Any:
        if key == "files":
            return self.files(value, "the session's files")
        if key == "chat_history":
            self.history("the session's chat history")
            return self.decode(value)
        if not isinstance(value, dict):
            raise HTTPFail(400, "BadSessionHeader", "the session header's global parameters must be objects")
        return self.kwargs({k: self.decode(v) for k, v in value.items()}, where="session parameter")

    # -- the request's folder ----------------------------------------------------------------

    async def open(self) -> None:
        """Write the caller's files and re-check paths for symlinks (in a worker thread)."""
        if self._uploads or self._checks:
            await anyio.to_thread.run_sync(self._open_sync)

    def _open_sync(self) -> None:
        if self._folder is not None:
            os.mkdir(self._folder, 0o700)
            for path, data in self._uploads:
                write_private(path, data)
        if self._checks:
            assert self.policy.file_root is not None
            base = os.path.realpath(self.policy.file_root)
            for path in self._checks:
                real = os.path.realpath(path)
                if os.path.commonpath([base, real]) != base:
                    raise HTTPFail(403, "FilePathNotAllowed",
                                   "a file the caller named leads outside the folder the server opened to "
                                   "callers (file_root) through a symbolic link")

    async def aclose(self) -> None:
        """Delete the request's folder (whatever happened to the request)."""
        folder, self._folder = self._folder, None
        if folder is not None:
            with anyio.CancelScope(shield=True), contextlib.suppress(OSError):
                await anyio.to_thread.run_sync(shutil.rmtree, folder, True)

    @property
    def folder(self) -> str | None:
        return self._folder
