"""Images for vision models: local files become base64 data URLs (read in a worker thread,
never on the event loop); ``http(s)://`` and ``data:`` URLs pass through unchanged."""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Sequence
from typing import Any

import anyio

from .._exceptions import ConfigError
from .._query import decode_query_with_filepaths

__all__ = ["IMAGE_SUFFIXES", "ImageRef", "split_query", "text_of", "to_image_refs"]

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".webp")
MAX_IMAGE_BYTES = 20 << 20


class ImageRef:
    """One image: ``url`` is what goes on the wire; ``b64``/``mime`` are set for local files."""

    __slots__ = ("b64", "mime", "url")

    def __init__(self, url: str, b64: str | None = None, mime: str | None = None) -> None:
        self.url = url
        self.b64 = b64
        self.mime = mime

    @property
    def is_remote(self) -> bool:
        return self.b64 is None and not self.url.startswith("data:")


def text_of(content: Any) -> str:
    """The text of an OpenAI message ``content``: a str, or the ``text`` parts of a part list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return "" if content is None else str(content)


def split_query(input: Any, files: Any) -> tuple[Any, list[str]]:
    """(text input, file list) from the call's input and ``lazyllm_files``.

    Accepts ``lazyllm_files`` as a str or list, and LazyLLM's ``<lazyllm-query>{json}`` input form.
    """
    out: list[str] = []
    decoded = decode_query_with_filepaths(input)
    if isinstance(decoded, dict):
        input = decoded["query"]
        out.extend(decoded["files"])
    if files:
        out.extend([files] if isinstance(files, str) else list(files))
    return input, out


async def _read(path: str) -> bytes:
    p = anyio.Path(path)
    try:
        st = await p.stat()
    except OSError as exc:
        raise ConfigError(f"image file {path!r} cannot be read ({exc.strerror}); pass an existing path or a URL") \
            from exc
    if st.st_size > MAX_IMAGE_BYTES:
        raise ConfigError(f"image file {path!r} is {st.st_size} bytes; the limit is {MAX_IMAGE_BYTES}")
    return await p.read_bytes()


async def to_image_refs(files: Sequence[str]) -> list[ImageRef]:
    refs: list[ImageRef] = []
    for f in files:
        if not isinstance(f, str):
            raise ConfigError(f"files must be paths or URLs (str), got {type(f).__name__}")
        if f.startswith(("http://", "https://", "data:")):
            refs.append(ImageRef(f))
            continue
        mime = mimetypes.guess_type(f)[0] or "application/octet-stream"
        b64 = base64.b64encode(await _read(f)).decode()
        refs.append(ImageRef(f"data:{mime};base64,{b64}", b64, mime))
    return refs
