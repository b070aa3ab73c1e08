"""Modules: the base class, hooks and the lifecycle driver (``ActionModule`` is a flow's
module, in ``flows/action.py``)."""

from .base import ModuleBase
from .hooks import FuncHook, Hook, HookHandle, LazyLLMHook

__all__ = ["FuncHook", "Hook", "HookHandle", "LazyLLMHook", "ModuleBase"]
