"""Small value types shared by modules and flows: argument packages and keyword packages.

``package`` is how several values travel between flow items as positional arguments;
``kwargs`` is a dict that the receiving module splats as keyword arguments.
"""

from __future__ import annotations

from typing import Any

__all__ = ["kwargs", "package"]


class package(tuple[Any, ...]):
    """A tuple whose items are passed to the next callable as separate positional arguments."""

    def __new__(cls, *args: Any) -> package:
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and not isinstance(args[0], package):
            return super().__new__(cls, args[0])
        return super().__new__(cls, args)

    def __repr__(self) -> str:
        return f"package{tuple.__repr__(self)}"


class kwargs(dict[str, Any]):
    """A dict passed to the next callable as keyword arguments."""

    def __repr__(self) -> str:
        return f"kwargs({dict.__repr__(self)})"
