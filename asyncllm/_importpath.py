"""Import paths (``package.module:name``): how a child process finds what the parent serves or runs.

A subprocess server, a Ray replica, a Slurm job and a trial on a launcher all rebuild the
object from its import path, so no object is pickled and nothing but a name crosses over.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any

from ._exceptions import ConfigError

__all__ = ["locate", "resolve"]


def locate(obj: Any, what: str = "the served object") -> str:
    """An import path ``pkg.mod:name`` that resolves to ``obj`` in a fresh interpreter."""
    if isinstance(obj, str):
        if ":" not in obj:
            raise ConfigError(f"{what} {obj!r} is not an import path; write it as 'package.module:name'")
        return obj
    mod, qual = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if isinstance(mod, str) and isinstance(qual, str) and mod != "__main__" and "<" not in qual:
        with contextlib.suppress(Exception):
            if resolve(f"{mod}:{qual}") is obj:
                return f"{mod}:{qual}"
    for name, module in list(sys.modules.items()):
        if name == "__main__" or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is obj and not attr.startswith("__"):
                return f"{name}:{attr}"
    raise ConfigError(
        f"cannot find an import path for {what} {obj!r}: the subprocess launcher imports what it serves. "
        "Define it at module level in an importable file (not __main__) or pass 'package.module:name'")


def resolve(path: str) -> Any:
    mod, _, qual = path.partition(":")
    obj: Any = importlib.import_module(mod)
    for part in qual.split("."):
        obj = getattr(obj, part)
    return obj
