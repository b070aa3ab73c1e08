"""Small value types shared by modules and flows: argument packages and keyword packages.

``package`` is how several values travel between flow items as positional arguments;
``kwargs`` is a dict that the receiving module splats as keyword arguments.

Neither can be subclassed: the call path tells them from other values with ``type(x) is``
(cheaper than ``isinstance`` on every call), so a subclass would silently lose its meaning.
"""

from __future__ import annotations

from typing import Any, final

__all__ = ["kwargs", "package"]


def _refuse_subclass(cls: type) -> None:
    raise TypeError(
        f"{cls.__mro__[1].__name__} cannot be subclassed (flows recognise it by its exact type); "
        "wrap your values in it instead, e.g. package(a, b) or kwargs(k=v)"
    )


@final
class package(tuple[Any, ...]):
    """A tuple whose items are passed to the next callable as separate positional arguments."""

    def __init_subclass__(cls, **kw: Any) -> None:
        _refuse_subclass(cls)

    def __new__(cls, *args: Any) -> package:
        if len(args) == 1 and isinstance(args[0], (tuple, list)) and not isinstance(args[0], package):
            return super().__new__(cls, args[0])
        return super().__new__(cls, args)

    def __repr__(self) -> str:
        return f"package{tuple.__repr__(self)}"


@final
class kwargs(dict[str, Any]):
    """A dict passed to the next callable as keyword arguments."""

    def __init_subclass__(cls, **kw: Any) -> None:
        _refuse_subclass(cls)

    def __repr__(self) -> str:
        return f"kwargs({dict.__repr__(self)})"
