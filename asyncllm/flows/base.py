"""``FlowBase``: what every flow shares — items, names, calling items of any colour, capture.

A flow is itself a module: it has hooks, ``stream()``, a lifecycle that deploys everything in
it, and a tree ``repr``. Items may be module classes (instantiated), modules, nested flows,
coroutine functions (awaited), plain callables (run inline) or ``al.to_thread(fn)`` (run in a
worker thread). How a value reaches an item: one value is passed as is, a ``package`` is
splatted into positional arguments (a nested flow receives the package whole), a ``kwargs``
dict is splatted into keyword arguments.
"""

from __future__ import annotations

import inspect
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from .._exceptions import AsyncLLMError, ConfigError, FlowError
from .._types import kwargs as kwargs_type
from .._types import package
from ..modules.base import ModuleBase

__all__ = ["FlowBase", "invoke"]


def _item_label(item: Any) -> str:
    if isinstance(item, ModuleBase):
        return item.display_name
    return getattr(item, "__qualname__", None) or getattr(item, "__name__", None) or type(item).__name__


async def invoke(item: Any, value: Any, kw: dict[str, Any]) -> Any:
    """Call one flow item with ``value`` following the package/kwargs conventions."""
    if isinstance(value, package) and not isinstance(item, FlowBase):
        out = item(*value, **kw)
    elif isinstance(value, kwargs_type):
        out = item(**value, **kw)
    else:
        out = item(value, **kw)
    if inspect.isawaitable(out):
        out = await out
    return out


def _no_input(value: Any) -> bool:
    return isinstance(value, package) and len(value) == 0


class FlowBase(ModuleBase):
    """Base of pipeline, parallel, warp, diverter, switch, ifs and loop."""

    def __init__(self, *items: Any, _name: str | None = None, **named_items: Any) -> None:
        super().__init__(name=_name)
        self._items: list[Any] = []
        self._item_names: list[str | None] = []
        self._capturing = False
        self._inline: set[int] = set()  # items that are modules calling through ModuleBase.__call__
        for item in items:
            self._add_item(None, item)
        for name, item in named_items.items():
            self._add_item(name, item)

    def _add_item(self, name: str | None, item: Any) -> None:
        if isinstance(item, type) and issubclass(item, ModuleBase):
            item = item()
        if not callable(item):
            raise ConfigError(
                f"{type(self).__name__} item {name or len(self._items)} is not callable: {item!r}; "
                "flow items must be modules, module classes, flows or callables"
            )
        if name is not None and name in self._item_names:
            raise ConfigError(f"{type(self).__name__} already has an item named {name!r}")
        self._items.append(item)
        self._item_names.append(name)
        if isinstance(item, ModuleBase):
            self.__dict__["_submodule_map"][name or f"_item{len(self._items) - 1}"] = item
            if not any("__call__" in vars(c) for c in type(item).__mro__[: type(item).__mro__.index(ModuleBase)]):
                self._inline.add(len(self._items) - 1)
        # ``flow.name`` reads a named item; an instance attribute rather than ``__getattr__``,
        # which would slow every attribute read of the flow. What the class or instance already
        # defines keeps its meaning.
        if name is not None and name not in self.__dict__ and not hasattr(type(self), name):
            self.__dict__[name] = item

    # -- ``with pipeline() as p: p.step = f`` ------------------------------------------------

    def __enter__(self) -> Self:
        self.__dict__["_capturing"] = True
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__dict__["_capturing"] = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self.__dict__.get("_capturing") and not name.startswith("_"):
            self._add_item(name, value)
            return
        super().__setattr__(name, value)

    if TYPE_CHECKING:  # named items are instance attributes (see _add_item)

        def __getattr__(self, key: str) -> Any: ...

    # -- items -------------------------------------------------------------------------------

    @property
    def items(self) -> list[Any]:
        return list(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def _index_of(self, key: int | str) -> int:
        if isinstance(key, int):
            if not -len(self._items) <= key < len(self._items):
                raise ConfigError(f"{type(self).__name__} has no item {key}")
            return key % len(self._items)
        if key not in self._item_names:
            raise ConfigError(f"{type(self).__name__} has no item named {key!r}; names: {self._item_names}")
        return self._item_names.index(key)

    def _label(self, i: int) -> str:
        return self._item_names[i] or f"#{i} {_item_label(self._items[i])}"

    async def _call_item(self, i: int, value: Any, kw: dict[str, Any]) -> Any:
        try:
            return await invoke(self._items[i], value, kw)
        except Exception as exc:
            raise self._item_error(i, exc) from self._item_cause(exc)

    def _item_error(self, i: int, exc: Exception) -> Exception:
        """What a failing item raises: a typed error as itself, anything else as a FlowError."""
        if isinstance(exc, AsyncLLMError):
            return exc
        return FlowError(
            f"{type(self).__name__} item {self._label(i)} failed: {type(exc).__name__}: {exc}",
            flow=self.display_name,
            item=self._label(i),
        )

    @staticmethod
    def _item_cause(exc: Exception) -> BaseException | None:
        return exc.__cause__ if isinstance(exc, AsyncLLMError) else exc

    @staticmethod
    def _pack(args: tuple[Any, ...]) -> Any:
        if len(args) == 1:
            return args[0]
        return package(args)

    def _repr_fields(self) -> dict[str, Any]:
        return {"name": self._module_name}

    def _repr_line(self) -> str:
        name = f" name={self._module_name}" if self._module_name else ""
        return f"<Flow type={type(self).__name__}{name} items={len(self._items)}>"

    def __repr__(self) -> str:
        lines = [self._repr_line()]
        for i, item in enumerate(self._items):
            last = i == len(self._items) - 1
            label = f"{self._item_names[i]}: " if self._item_names[i] else ""
            child = (repr(item) if isinstance(item, ModuleBase) else f"<Function {_item_label(item)}>").splitlines()
            lines.append(("└─ " if last else "├─ ") + label + child[0])
            lines.extend(("   " if last else "│  ") + c for c in child[1:])
        return "\n".join(lines)

