"""A caller's local files travel to a served module as content, never as paths.

A path means nothing on another machine, and a served module does not read its own disk for
callers (see CallerPolicy). So before a call leaves, every local file the call names — in
``lazyllm_files``, in the session's per-module files, in a ``<lazyllm-query>`` argument — is
read (in a worker thread) and sent as a ``data:`` URL. URLs, ``data:`` URLs and names of files
that do not exist here pass unchanged: the server decides about them.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Sequence
from typing import Any

import anyio

from .._exceptions import ConfigError
from .._query import QUERY_PREFIX, decode_query_with_filepaths, encode_query_with_filepaths

__all__ = ["args_as_content", "files_as_content"]

# More than a served module accepts by default (10 MiB a file): the server's 413 says the limit.
_READ_LIMIT = 64 << 20


async def files_as_content(files: str | Sequence[str]) -> list[str]:
    listed = [files] if isinstance(files, str) else list(files)
    return [await _one(f) for f in listed]


async def _one(ref: Any) -> Any:
    if not isinstance(ref, str) or ref.startswith(("data:", "http://", "https://")):
        return ref
    path = anyio.Path(ref)
    if not await path.is_file():
        return ref
    size = (await path.stat()).st_size
    if size > _READ_LIMIT:
        raise ConfigError(f"file {ref!r} is {size} bytes: too large to send to a served module "
                          f"(limit {_READ_LIMIT}); send a URL the server may fetch instead")
    mime = mimetypes.guess_type(ref)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(await path.read_bytes()).decode()}"


async def args_as_content(args: tuple[Any, ...]) -> tuple[Any, ...]:
    """``args`` with the files of any ``<lazyllm-query>`` string among them sent as content."""
    if not any(isinstance(a, str) and a.startswith(QUERY_PREFIX) for a in args):
        return args
    out = []
    for a in args:
        decoded = decode_query_with_filepaths(a) if isinstance(a, str) else a
        if isinstance(decoded, dict) and decoded["files"]:
            a = encode_query_with_filepaths(decoded["query"], await files_as_content(decoded["files"]))
        out.append(a)
    return tuple(out)
