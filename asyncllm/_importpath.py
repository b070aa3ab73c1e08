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
    """The object at ``package.module:name``; a :class:`ConfigError` naming the fix when the
    path is malformed, the module is not found or has no such name (the original is the cause)."""
    mod, colon, qual = path.partition(":")
    if not colon or not mod or not qual or any(not p.isidentifier() for p in qual.split(".")):
        raise ConfigError(f"{path!r} is not an import path: write it as 'package.module:name' "
                          "(the module, a colon, then the object's name in it)")
    try:
        obj: Any = importlib.import_module(mod)
    except ModuleNotFoundError as exc:
        if exc.name and (mod == exc.name or mod.startswith(exc.name + ".")):
            raise ConfigError(f"no module named {exc.name!r} (from {path!r}): check the spelling, and run from the "
                              "directory that holds it or add that directory to PYTHONPATH") from exc
        raise ConfigError(f"importing {mod!r} failed: {exc}; install what it needs") from exc
    parts = qual.split(".")
    for i, part in enumerate(parts):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            owner = f"module {mod!r}" if i == 0 else repr(f"{mod}:{'.'.join(parts[:i])}")
            raise ConfigError(f"{owner} has no attribute {part!r} (from {path!r}): check the name after the "
                              "colon") from exc
    return obj
