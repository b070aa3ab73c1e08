"""Modules: the base class, ActionModule, hooks and the lifecycle driver."""

from .action import ActionModule
from .base import ModuleBase
from .hooks import FuncHook, Hook, HookHandle, LazyLLMHook

__all__ = ["ActionModule", "FuncHook", "Hook", "HookHandle", "LazyLLMHook", "ModuleBase"]
