"""LazyLLM's inline form for a query with files: ``<lazyllm-query>{"query": ..., "files": [...]}``.

One string carries a text query and the files that go with it (paths, URLs or ``data:``
URLs), so it can travel through any flow item that passes strings along. Vision-capable chat
modules decode it; a served module's caller policy checks the files in it like any other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from ._exceptions import ConfigError

__all__ = ["QUERY_PREFIX", "decode_query_with_filepaths", "encode_query_with_filepaths"]

QUERY_PREFIX = "<lazyllm-query>"


def encode_query_with_filepaths(query: str = "", files: str | Sequence[str] | None = None) -> str:
    """``query`` and ``files`` as one ``<lazyllm-query>`` string (``query`` alone when no files)."""
    if not files:
        return query
    listed = [files] if isinstance(files, str) else list(files)
    if not all(isinstance(f, str) for f in listed):
        raise ConfigError("files must be paths or URLs (str)")
    return QUERY_PREFIX + orjson.dumps({"query": query, "files": listed}).decode()


def decode_query_with_filepaths(text: str) -> dict[str, Any] | str:
    """``{"query": str, "files": [str, ...]}`` for a ``<lazyllm-query>`` string, else ``text`` unchanged.

    A malformed one is a :class:`ConfigError` (it names what a well-formed one looks like).
    """
    if not isinstance(text, str) or not text.startswith(QUERY_PREFIX):
        return text
    try:
        data = orjson.loads(text[len(QUERY_PREFIX):])
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise ConfigError("a '<lazyllm-query>' string must be followed by a JSON object {\"query\": str, "
                          "\"files\": [str, ...]}")
    query, files = data.get("query", ""), data.get("files") or []
    if not isinstance(query, str) or not isinstance(files, list) or not all(isinstance(f, str) for f in files):
        raise ConfigError("in a '<lazyllm-query>' string, 'query' must be a string and 'files' a list of strings")
    return {"query": query, "files": files}
