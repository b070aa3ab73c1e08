"""What an optional plug-in (an engine, a fine-tune method) needs installed, and the typed error
naming the install command when it is not there.

Packages are located with ``find_spec``, never imported: asking whether vllm or torch is there
must not cost the seconds (and side effects) of importing them.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable
from typing import ClassVar

from ._exceptions import MissingDependencyError

__all__ = ["Requires", "missing_imports"]


def missing_imports(import_names: Iterable[str]) -> list[str]:
    """The import names that cannot be found, in the order given (none of them is imported)."""
    return [n for n in import_names if importlib.util.find_spec(n) is None]


class Requires:
    """Mixed into a plug-in family's base (``deploy.Deployer``, ``finetune.Finetuner``)."""

    #: (import names, pip name, extra) of what must be installed; None: nothing beyond asyncllm
    requires: ClassVar[tuple[tuple[str, ...], str, str] | None] = None

    @classmethod
    def needed_for(cls) -> str:
        """What the error says the packages are for (each family names its plug-ins its own way)."""
        raise NotImplementedError

    @classmethod
    def available(cls) -> bool:
        """True when every import name of :attr:`requires` can be found (never imports them)."""
        if cls.requires is None:
            return True
        return not missing_imports(cls.requires[0])

    @classmethod
    def check_available(cls) -> None:
        """Raise :class:`MissingDependencyError` (pip name, extra, purpose) unless :meth:`available`."""
        if not cls.available():
            assert cls.requires is not None
            _, pip_name, extra = cls.requires
            raise MissingDependencyError(pip_name, extra, cls.needed_for())
