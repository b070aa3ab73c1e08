"""``Option``: a hyper-parameter with several candidate values, searched by ``TrialModule``.

An Option stands for its current choice: deep-copying it yields a copy of that choice, which
is how a trial gets a module with every Option fixed. ``OptionIter`` walks the cartesian
product (first Option outermost) and can discover Options nested inside a choice.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ._exceptions import ConfigError

__all__ = ["Option", "OptionIter"]


class Option:
    """Candidate values for one setting: ``Option([1e-4, 1e-3])`` or ``Option(1e-4, 1e-3)``."""

    def __init__(self, *objs: Any) -> None:
        if len(objs) == 1 and isinstance(objs[0], (list, tuple)):
            objs = tuple(objs[0])
        if len(objs) < 2:
            raise ConfigError(f"an Option needs at least two choices, got {len(objs)}; pass the value directly")
        self._objs = list(objs)
        self._idx = 0

    @property
    def choices(self) -> list[Any]:
        return list(self._objs)

    @property
    def value(self) -> Any:
        """The current choice."""
        return self._objs[self._idx]

    def select(self, index: int) -> None:
        if not 0 <= index < len(self._objs):
            raise ConfigError(f"Option index {index} out of range 0..{len(self._objs) - 1}")
        self._idx = index

    def __len__(self) -> int:
        return len(self._objs)

    def __iter__(self) -> Iterator[Any]:
        for i in range(len(self._objs)):
            self._idx = i
            yield self._objs[i]
        self._idx = 0

    def __deepcopy__(self, memo: dict[int, Any]) -> Any:
        return copy.deepcopy(self.value, memo)

    def __repr__(self) -> str:
        return f"Option({self._objs!r}, current={self.value!r})"


class OptionIter:
    """Every combination of ``options`` (cartesian product, first outermost).

    ``suboptions(choice)`` returns Options nested in a choice; they join the product while
    that choice is selected. Each step yields the list of current values and leaves every
    Option selected accordingly.
    """

    def __init__(
        self, options: Sequence[Option], suboptions: Callable[[Any], Sequence[Option]] | None = None
    ) -> None:
        self._options = list(options)
        self._sub = suboptions or (lambda _choice: [])

    def __iter__(self) -> Iterator[list[Any]]:
        yield from self._walk(self._options, [])

    def _walk(self, pending: list[Option], chosen: list[Any]) -> Iterator[list[Any]]:
        if not pending:
            yield list(chosen)
            return
        head, rest = pending[0], pending[1:]
        for i in range(len(head)):
            head.select(i)
            nested = [o for o in self._sub(head.value) if o not in rest]
            yield from self._walk(nested + rest, [*chosen, head.value])
        head.select(0)
