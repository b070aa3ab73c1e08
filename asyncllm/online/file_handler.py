"""``FileHandlerBase``: the seed's training-file converter for a provider that fine-tunes.

A platform whose fine-tune API wants the training data in its own shape mixes this class in
and overrides ``_convert_file_format(filepath) -> str`` (the seed's contract, kept as written)::

    class MyChat(OnlineChatModuleBase, FileHandlerBase):
        def _convert_file_format(self, filepath: str) -> str:
            ...  # read the JSONL of {"messages": [...]}, return the platform's text

Before ``_upload_train_file`` runs, the fine-tune driver (``_finetune.py``) checks that the file
is JSONL of messages, calls the converter (a plain ``def`` runs in a worker thread, an
``async def`` is awaited), writes what it returned to a temporary file of the same name and
uploads that file; the temporary file is removed after the upload, whatever happens.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import orjson

from .._concurrency import call_any, is_async_callable, to_thread
from .._exceptions import ConfigError

__all__ = ["FileHandlerBase", "call_hook", "converted_train_file", "read_training_file"]


class FileHandlerBase:
    """Mix in to convert the JSONL training file before it is uploaded (the seed's class)."""

    def __init__(self) -> None:
        # The seed's subclasses call ``FileHandlerBase.__init__(self)``; there is nothing to set up.
        pass

    def _convert_file_format(self, filepath: str) -> str:
        """The training data of ``filepath`` in the platform's format, as text. The default
        keeps the file as it is (OpenAI's ``{"messages": [...]}`` lines)."""
        with open(filepath, encoding="utf-8") as f:
            return f.read()


async def call_hook(fn: Any, *args: Any, **kw: Any) -> Any:
    """Call a provider hook of either colour: an ``async def`` is awaited; a plain ``def`` (the
    seed's hooks are synchronous, and may block on files or the network) runs in a worker thread."""
    return await call_any(fn if is_async_callable(fn) else to_thread(fn), *args, **kw)


@asynccontextmanager
async def converted_train_file(handler: FileHandlerBase, path: str) -> AsyncIterator[str]:
    """The path of ``path`` converted by ``handler._convert_file_format``, removed on exit."""
    await read_training_file(path)  # validates the JSONL first: a clear error names the line
    text = await call_hook(handler._convert_file_format, path)
    if not isinstance(text, (str, bytes)):
        raise ConfigError(f"{type(handler).__name__}._convert_file_format must return the converted data as a "
                          f"str, got {type(text).__name__}")
    folder = await anyio.to_thread.run_sync(lambda: tempfile.mkdtemp(prefix="asyncllm-ft-"))
    try:
        out = os.path.join(folder, os.path.basename(path))
        data = text.encode("utf-8") if isinstance(text, str) else text
        await anyio.Path(out).write_bytes(data)
        yield out
    finally:
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(lambda: shutil.rmtree(folder, ignore_errors=True))


async def read_training_file(path: str, keep_roles: tuple[str, ...] = ("system", "user", "assistant")) -> bytes:
    """The JSONL file, read in a worker thread, with messages of other roles dropped."""
    try:
        raw = await anyio.Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"training file {path!r} cannot be read ({exc.strerror})") from exc
    out: list[bytes] = []
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{n} is not JSON; each line must be {{\"messages\": [...]}}") from exc
        if isinstance(row, dict) and isinstance(row.get("messages"), list):
            row["messages"] = [m for m in row["messages"] if isinstance(m, dict) and m.get("role") in keep_roles]
        out.append(orjson.dumps(row))
    return b"\n".join(out) + b"\n"
