"""Flows: compose modules and callables. Each flow is itself a module; ``ActionModule`` wraps
one so the lifecycle reaches every module inside it."""

from .action import ActionModule
from .base import FlowBase
from .control import IFS, Loop, Switch, ifs, loop, switch
from .parallel import Diverter, Parallel, Warp, diverter, parallel, warp
from .pipeline import Pipeline, pipeline

__all__ = [
    "IFS",
    "ActionModule",
    "Diverter",
    "FlowBase",
    "Loop",
    "Parallel",
    "Pipeline",
    "Switch",
    "Warp",
    "diverter",
    "ifs",
    "loop",
    "parallel",
    "pipeline",
    "switch",
    "warp",
]
